/* The ARM driver's entry point (driver.c). */
#ifndef FPGA_DRIVER_H
#define FPGA_DRIVER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs the whole schedule once. buffers[b] points at DDR buffer b (FPGA_BUFFERS in schedule.h gives each one's
 * height, width and channels); buffers[FPGA_INPUT_BUFFER] holds the quantised image (channels padded to 4).
 * weights / biases: the contents of weights.bin / bias.bin. Returns 0. */
int fpga_run(int16_t *const *buffers, const int16_t *weights, const int32_t *biases);

#ifdef __cplusplus
}
#endif

#endif
