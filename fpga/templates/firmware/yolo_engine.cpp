// Yolo engine: per channel a = c mod (5 + classes); a = 2, 3 (w, h) pass unchanged, every other plane goes through
// the logistic table (4096 entries over [-8, 8) in steps of 1/256, Q0.15 out).
#include "engines.h"
#include "sigmoid_table.h"

void yolo_engine(hls::stream<axis64> &in, hls::stream<axis64> &out, int pixels, int beats, int channel_offset,
                 int classes, int frac) {
#pragma HLS INTERFACE axis port=in
#pragma HLS INTERFACE axis port=out
#pragma HLS INTERFACE s_axilite port=pixels bundle=ctrl
#pragma HLS INTERFACE s_axilite port=beats bundle=ctrl
#pragma HLS INTERFACE s_axilite port=channel_offset bundle=ctrl
#pragma HLS INTERFACE s_axilite port=classes bundle=ctrl
#pragma HLS INTERFACE s_axilite port=frac bundle=ctrl
#pragma HLS INTERFACE s_axilite port=return bundle=ctrl
  const int planes = 5 + classes;
  for (int p = 0; p < pixels; p++) {
    for (int b = 0; b < beats; b++) {
#pragma HLS PIPELINE II=1
      const word_t w = in.read().data;
      word_t o = 0;
      for (int l = 0; l < 4; l++) {
#pragma HLS UNROLL
        const int a = (channel_offset + 4 * b + l) % planes;
        const int q = lane16(w, l);
        int q8 = frac >= SIGMOID_FRAC ? q >> (frac - SIGMOID_FRAC) : q << (SIGMOID_FRAC - frac);
        if (q8 < -SIGMOID_SIZE / 2) q8 = -SIGMOID_SIZE / 2;
        if (q8 > SIGMOID_SIZE / 2 - 1) q8 = SIGMOID_SIZE / 2 - 1;
        set_lane16(o, l, (a == 2 || a == 3) ? lane16(w, l) : (data_t)SIGMOID_TABLE[q8 + SIGMOID_SIZE / 2]);
      }
      out.write(make_beat(o, p == pixels - 1 && b == beats - 1));
    }
  }
}
