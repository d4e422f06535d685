// Convolution engine: N_MAX kernels in parallel, each multiplying one 64-bit beat (4 channels) per cycle, over a
// 'same'-padded 1x1 or 3x3 window read from our line buffer. Emits exact 32-bit (wrapping) partial sums.
#include "engines.h"
#include "line_buffer.h"

static acc_t dot4(word_t x, word_t w) {
#pragma HLS INLINE
  ap_int<34> s = 0;
  for (int l = 0; l < 4; l++) {
#pragma HLS UNROLL
    s += (ap_int<32>)(lane16(x, l) * lane16(w, l));
  }
  return (acc_t)s;  // modulo 2^32, as the accumulator register
}

void conv_engine(hls::stream<axis64> &in, hls::stream<axis64> &weights, hls::stream<axis64> &psum, int height,
                 int width, int in_beats, int n_out, int ksize) {
#pragma HLS INTERFACE axis port=in
#pragma HLS INTERFACE axis port=weights
#pragma HLS INTERFACE axis port=psum
#pragma HLS INTERFACE s_axilite port=height bundle=ctrl
#pragma HLS INTERFACE s_axilite port=width bundle=ctrl
#pragma HLS INTERFACE s_axilite port=in_beats bundle=ctrl
#pragma HLS INTERFACE s_axilite port=n_out bundle=ctrl
#pragma HLS INTERFACE s_axilite port=ksize bundle=ctrl
#pragma HLS INTERFACE s_axilite port=return bundle=ctrl
  static word_t wbuf[N_MAX][WB_DEPTH];
#pragma HLS ARRAY_PARTITION variable=wbuf complete dim=1
  static LineBuffer<LB_ROWS, LB_DEPTH> line;
#pragma HLS ARRAY_PARTITION variable=line.rows complete dim=1
  const int taps = ksize * ksize;
  const int pad = ksize / 2;
  const int per_kernel = taps * in_beats;

load_weights:
  for (int k = 0; k < n_out; k++) {
    for (int i = 0; i < per_kernel; i++) {
#pragma HLS PIPELINE II=1
      wbuf[k][i] = weights.read().data;
    }
  }

rows:
  for (int yy = 0; yy < height + pad; yy++) {
  cols:
    for (int xx = 0; xx < width + pad; xx++) {
      if (yy < height && xx < width) {
      fill:
        for (int b = 0; b < in_beats; b++) {
#pragma HLS PIPELINE II=1
          line.write(yy, xx * in_beats + b, in.read().data);
        }
      }
      const int oy = yy - pad, ox = xx - pad;
      if (oy < 0 || ox < 0) continue;
      acc_t acc[N_MAX];
#pragma HLS ARRAY_PARTITION variable=acc complete
      for (int k = 0; k < N_MAX; k++) {
#pragma HLS UNROLL
        acc[k] = 0;
      }
    window:
      for (int i = 0; i < per_kernel; i++) {
#pragma HLS PIPELINE II=1
        const int t = i / in_beats, b = i % in_beats;
        const int iy = oy + t / ksize - pad, ix = ox + t % ksize - pad;
        const bool inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
        const word_t x = inside ? line.read(iy, ix * in_beats + b) : word_t(0);
      kernels:
        for (int k = 0; k < N_MAX; k++) {
#pragma HLS UNROLL
          if (k < n_out) acc[k] += dot4(x, wbuf[k][i]);
        }
      }
      const bool last_pixel = oy == height - 1 && ox == width - 1;
    emit:
      for (int k = 0; k < n_out; k += 2) {
#pragma HLS PIPELINE II=1
        word_t w = 0;
        set_lane32(w, 0, acc[k]);
        set_lane32(w, 1, acc[k + 1]);
        psum.write(make_beat(w, last_pixel && k + 2 >= n_out));
      }
    }
  }
}
