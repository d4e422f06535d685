// Accumulation engine: adds the previous input folds' partial sums (from DDR), and on the last fold the bias,
// leaky (x 6554 / 2^16 on negatives, folded into the one rounding shift) and saturation to DATA_BITS.
// P_MEM lanes: the partial-sum buffer is split in P_MEM banks so P_MEM channels retire per cycle.
#include "engines.h"

static data_t requantize(acc_t acc, int leaky, int shift) {
#pragma HLS INLINE
  ap_int<64> v = acc;
  int sh = shift;
  if (leaky && acc < 0) {
    v = v * LEAKY_Q16;
    sh += 16;
  }
  if (sh > 0) v = (v + (ap_int<64>(1) << (sh - 1))) >> sh;
  if (v > DATA_MAX) v = DATA_MAX;
  if (v < DATA_MIN) v = DATA_MIN;
  return (data_t)v;
}

void acc_engine(hls::stream<axis64> &psum, hls::stream<axis64> &prev, hls::stream<axis64> &bias,
                hls::stream<axis64> &out, int pixels, int n_out, int first, int last, int leaky, int shift) {
#pragma HLS INTERFACE axis port=psum
#pragma HLS INTERFACE axis port=prev
#pragma HLS INTERFACE axis port=bias
#pragma HLS INTERFACE axis port=out
#pragma HLS INTERFACE s_axilite port=pixels bundle=ctrl
#pragma HLS INTERFACE s_axilite port=n_out bundle=ctrl
#pragma HLS INTERFACE s_axilite port=first bundle=ctrl
#pragma HLS INTERFACE s_axilite port=last bundle=ctrl
#pragma HLS INTERFACE s_axilite port=leaky bundle=ctrl
#pragma HLS INTERFACE s_axilite port=shift bundle=ctrl
#pragma HLS INTERFACE s_axilite port=return bundle=ctrl
  acc_t bias_buf[N_MAX];
  acc_t acc[N_MAX];
#pragma HLS ARRAY_PARTITION variable=bias_buf cyclic factor=P_MEM
#pragma HLS ARRAY_PARTITION variable=acc cyclic factor=P_MEM
  if (last) {
  load_bias:
    for (int k = 0; k < n_out; k += 2) {
#pragma HLS PIPELINE II=1
      word_t w = bias.read().data;
      bias_buf[k] = lane32(w, 0);
      bias_buf[k + 1] = lane32(w, 1);
    }
  }
pixels_loop:
  for (int p = 0; p < pixels; p++) {
  gather:
    for (int k = 0; k < n_out; k += 2) {
#pragma HLS PIPELINE II=1
      word_t s = psum.read().data;
      acc_t a0 = lane32(s, 0), a1 = lane32(s, 1);
      if (!first) {
        word_t q = prev.read().data;
        a0 += lane32(q, 0);
        a1 += lane32(q, 1);
      }
      acc[k] = a0;
      acc[k + 1] = a1;
    }
    const bool last_pixel = p == pixels - 1;
    if (last) {
    emit_data:
      for (int k = 0; k < n_out; k += 4) {
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=P_MEM
        word_t w = 0;
        for (int l = 0; l < 4; l++) set_lane16(w, l, requantize(acc[k + l] + bias_buf[k + l], leaky, shift));
        out.write(make_beat(w, last_pixel && k + 4 >= n_out));
      }
    } else {
    emit_partial:
      for (int k = 0; k < n_out; k += 2) {
#pragma HLS PIPELINE II=1
        word_t w = 0;
        set_lane32(w, 0, acc[k]);
        set_lane32(w, 1, acc[k + 1]);
        out.write(make_beat(w, last_pixel && k + 2 >= n_out));
      }
    }
  }
}
