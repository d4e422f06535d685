// ctypes bridge for the C-simulation: each function fills the engine's input streams from flat arrays of 64-bit
// beats, runs the engine (the same code HLS synthesises), checks every input beat was consumed, and drains the
// output stream. Returns the number of output beats, or -1 with the message in fpga_last_error().
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "engines.h"

static std::string g_error;

extern "C" const char *fpga_last_error() { return g_error.c_str(); }

extern "C" int fpga_config(int *out) {
  const int values[] = {N_MAX, P_MEM, LB_ROWS, LB_DEPTH, WB_DEPTH, W_MAX, MP_DEPTH, UP_DEPTH, DATA_BITS};
  for (int i = 0; i < 9; i++) out[i] = values[i];
  return 9;
}

static void push(hls::stream<axis64> &s, const uint64_t *p, long n) {
  for (long i = 0; i < n; i++) s.write(make_beat(word_t(p[i]), i == n - 1));
}

static long drain(hls::stream<axis64> &s, uint64_t *p, long cap) {
  long n = 0;
  while (!s.empty()) {
    if (n >= cap) throw std::runtime_error("the engine wrote more than the " + std::to_string(cap) + " beats expected");
    p[n++] = s.read().data.to_uint64();
  }
  return n;
}

static void consumed(hls::stream<axis64> &s, const char *name) {
  if (!s.empty())
    throw std::runtime_error(std::to_string(s.size()) + " beats left unread on the " + name + " stream");
}

static void require(bool ok, const std::string &what) {
  if (!ok) throw std::runtime_error(what);
}

template <class F>
static long guarded(F f) {
  try {
    g_error.clear();
    return f();
  } catch (std::exception &e) {
    g_error = e.what();
    return -1;
  }
}

extern "C" long fpga_conv(const uint64_t *in, long n_in, const uint64_t *w, long n_w, uint64_t *out, long cap,
                          int height, int width, int in_beats, int n_out, int ksize) {
  return guarded([&]() -> long {
    require(n_out > 0 && n_out <= N_MAX && n_out % 4 == 0, "n_out must be a multiple of 4 up to N_MAX");
    require(width * in_beats <= LB_DEPTH, "a row of the input fold exceeds the line buffer (LB_DEPTH)");
    require(ksize * ksize * in_beats <= WB_DEPTH, "the kernels of the fold exceed the weight buffer (WB_DEPTH)");
    hls::stream<axis64> s_in("in"), s_w("weights"), s_out("psum");
    push(s_in, in, n_in);
    push(s_w, w, n_w);
    conv_engine(s_in, s_w, s_out, height, width, in_beats, n_out, ksize);
    consumed(s_in, "input");
    consumed(s_w, "weights");
    return drain(s_out, out, cap);
  });
}

extern "C" long fpga_acc(const uint64_t *psum, long n_psum, const uint64_t *prev, long n_prev, const uint64_t *bias,
                         long n_bias, uint64_t *out, long cap, int pixels, int n_out, int first, int last, int leaky,
                         int shift) {
  return guarded([&]() -> long {
    require(n_out > 0 && n_out <= N_MAX && n_out % 4 == 0, "n_out must be a multiple of 4 up to N_MAX");
    hls::stream<axis64> s_psum("psum"), s_prev("prev"), s_bias("bias"), s_out("out");
    push(s_psum, psum, n_psum);
    push(s_prev, prev, n_prev);
    push(s_bias, bias, n_bias);
    acc_engine(s_psum, s_prev, s_bias, s_out, pixels, n_out, first, last, leaky, shift);
    consumed(s_psum, "psum");
    consumed(s_prev, "prev");
    consumed(s_bias, "bias");
    return drain(s_out, out, cap);
  });
}

extern "C" long fpga_maxpool(const uint64_t *in, long n_in, uint64_t *out, long cap, int height, int width, int beats,
                             int stride) {
  return guarded([&]() -> long {
    require(width * beats <= MP_DEPTH, "a row exceeds the maxpool row buffer (MP_DEPTH)");
    hls::stream<axis64> s_in("in"), s_out("out");
    push(s_in, in, n_in);
    maxpool_engine(s_in, s_out, height, width, beats, stride);
    consumed(s_in, "input");
    return drain(s_out, out, cap);
  });
}

extern "C" long fpga_upsample(const uint64_t *in, long n_in, uint64_t *out, long cap, int height, int width,
                              int beats) {
  return guarded([&]() -> long {
    require(width * beats <= UP_DEPTH, "a row exceeds the upsample row buffer (UP_DEPTH)");
    hls::stream<axis64> s_in("in"), s_out("out");
    push(s_in, in, n_in);
    upsample_engine(s_in, s_out, height, width, beats);
    consumed(s_in, "input");
    return drain(s_out, out, cap);
  });
}

extern "C" long fpga_yolo(const uint64_t *in, long n_in, uint64_t *out, long cap, int pixels, int beats,
                          int channel_offset, int classes, int frac) {
  return guarded([&]() -> long {
    hls::stream<axis64> s_in("in"), s_out("out");
    push(s_in, in, n_in);
    yolo_engine(s_in, s_out, pixels, beats, channel_offset, classes, frac);
    consumed(s_in, "input");
    return drain(s_out, out, cap);
  });
}
