// fpga_platform.h in C-simulation: DMA transfers to the device fill the stream the switches route them to;
// plat_engines_wait runs the started engines in dataflow order (conv -> acc -> post) on those streams and hands
// the stream routed to dma0's S2MM to the pending receive. With the ARM driver (driver.c) compiled on top, the
// whole schedule runs exactly as on the board, minus the clock. fpga_csim_run() is the ctypes entry point.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engines.h"
#include "fpga_platform.h"

#include "fpga_driver.h"

namespace {
hls::stream<axis64> conv_in, conv_w, psum, acc_prev, acc_bias, acc_out, post_in[3], post_out[3];
int route_[N_SWITCHES][4];
bool started[N_ENGINES];
int args_[N_ENGINES][8];
void *recv_ptr = nullptr;
size_t recv_bytes = 0;
std::string error;
int passes_done = 0;

int out_slave = 0;  // the slave of sw_out that reaches dma0.S2MM (its only master)

void route_to(int sw, int from, int to) {
  if (sw == SW_OUT)
    out_slave = from;
  else
    route_[sw][from] = to;
}

hls::stream<axis64> &to_device_target(int dma) {
  if (dma == DMA1) {
    const int m = route_[SW_PAR][0];
    return m == 0 ? conv_w : m == 1 ? acc_bias : acc_prev;
  }
  return route_[SW_IN][0] == 0 ? conv_in : post_in[route_[SW_POST][1]];
}

void move(hls::stream<axis64> &from, hls::stream<axis64> &to) {
  while (!from.empty()) to.write(from.read());
}
}  // namespace

extern "C" {

void plat_engine_start(int engine, const int *args, int n_args) {
  started[engine] = true;
  for (int i = 0; i < n_args; i++) args_[engine][i] = args[i];
}

void plat_route(int sw, int from, int to) { route_to(sw, from, to); }

void plat_dma_to_device(int dma, const void *src, size_t bytes) {
  hls::stream<axis64> &s = to_device_target(dma);
  const uint64_t *p = static_cast<const uint64_t *>(src);
  for (size_t i = 0; i < bytes / 8; i++) s.write(make_beat(word_t(p[i]), i + 1 == bytes / 8));
}

void plat_dma_from_device(int dma, void *dst, size_t bytes) {
  recv_ptr = dst;
  recv_bytes = bytes;
}

void plat_dma_wait(void) {}

void plat_engines_wait(void) {
  int *a;
  if (started[ENGINE_CONV]) {
    a = args_[ENGINE_CONV];
    conv_engine(conv_in, conv_w, psum, a[0], a[1], a[2], a[3], a[4]);
  }
  if (started[ENGINE_ACC]) {
    a = args_[ENGINE_ACC];
    acc_engine(psum, acc_prev, acc_bias, acc_out, a[0], a[1], a[2], a[3], a[4], a[5]);
    // sw_post slave 0 (acc.out): to a post engine's input, or (master 3) straight to sw_out
    const int m = route_[SW_POST][0];
    if (m < 3) move(acc_out, post_in[m]);
  }
  hls::stream<axis64> *result = &acc_out;
  if (started[ENGINE_MAXPOOL]) {
    a = args_[ENGINE_MAXPOOL];
    maxpool_engine(post_in[0], post_out[0], a[0], a[1], a[2], a[3]);
  }
  if (started[ENGINE_UPSAMPLE]) {
    a = args_[ENGINE_UPSAMPLE];
    upsample_engine(post_in[1], post_out[1], a[0], a[1], a[2]);
  }
  if (started[ENGINE_YOLO]) {
    a = args_[ENGINE_YOLO];
    yolo_engine(post_in[2], post_out[2], a[0], a[1], a[2], a[3], a[4]);
  }
  if (out_slave > 0) result = &post_out[out_slave - 1];  // 0: acc.out bypass, 1..3: the post engines
  uint64_t *out = static_cast<uint64_t *>(recv_ptr);
  size_t n = 0;
  while (!result->empty()) {
    if (n >= recv_bytes / 8) throw std::runtime_error("the engines produced more beats than the DMA receives");
    out[n++] = result->read().data.to_uint64();
  }
  if (n != recv_bytes / 8)
    throw std::runtime_error("the engines produced " + std::to_string(n) + " beats, the DMA receives " +
                             std::to_string(recv_bytes / 8));
  for (auto *q : {&conv_in, &conv_w, &psum, &acc_prev, &acc_bias, &acc_out, &post_in[0], &post_in[1], &post_in[2]})
    if (!q->empty()) throw std::runtime_error("beats left unread on a stream after a pass");
  for (bool &b : started) b = false;
  passes_done++;
}

void plat_cache_flush(const void *, size_t) {}
void plat_cache_invalidate(void *, size_t) {}

const char *fpga_csim_error() { return error.c_str(); }

int fpga_csim_run(int16_t *const *buffers, const int16_t *weights, const int32_t *biases) {
  try {
    error.clear();
    passes_done = 0;
    return fpga_run(buffers, weights, biases);
  } catch (std::exception &e) {
    error = "pass " + std::to_string(passes_done) + ": " + e.what();
    return -1;
  }
}
}
