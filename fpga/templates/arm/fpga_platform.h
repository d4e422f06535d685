/* What the ARM driver needs from the board: engine registers, stream-switch routes, DMA transfers, caches.
 * platform_zynq.c implements it on the Zedboard (Xilinx standalone BSP); fpga's C-simulation implements it by
 * calling the compiled engines, which is how the driver itself is tested without a board. */
#ifndef FPGA_PLATFORM_H
#define FPGA_PLATFORM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum fpga_engine { ENGINE_CONV, ENGINE_ACC, ENGINE_MAXPOOL, ENGINE_UPSAMPLE, ENGINE_YOLO, N_ENGINES };
enum fpga_switch { SW_IN, SW_PAR, SW_POST, SW_OUT, N_SWITCHES };
enum fpga_dma { DMA0, DMA1 };

/* Writes the engine's scalar registers (in the order of its C++ arguments) and sets ap_start. */
void plat_engine_start(int engine, const int *args, int n_args);
/* Routes slave port `from` to master port `to` of a stream switch (all other routes off). */
void plat_route(int sw, int from, int to);
/* Starts a memory-to-stream (to_device) or stream-to-memory transfer; lengths in bytes. */
void plat_dma_to_device(int dma, const void *src, size_t bytes);
void plat_dma_from_device(int dma, void *dst, size_t bytes);
/* Blocks until every DMA transfer started so far is done (engines keep running). */
void plat_dma_wait(void);
/* Blocks until every started engine is done (ap_done). */
void plat_engines_wait(void);
void plat_cache_flush(const void *p, size_t bytes);
void plat_cache_invalidate(void *p, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
