// Upsample engine: nearest neighbour x2; each input row is kept in a row buffer and sent twice.
#include "engines.h"

void upsample_engine(hls::stream<axis64> &in, hls::stream<axis64> &out, int height, int width, int beats) {
#pragma HLS INTERFACE axis port=in
#pragma HLS INTERFACE axis port=out
#pragma HLS INTERFACE s_axilite port=height bundle=ctrl
#pragma HLS INTERFACE s_axilite port=width bundle=ctrl
#pragma HLS INTERFACE s_axilite port=beats bundle=ctrl
#pragma HLS INTERFACE s_axilite port=return bundle=ctrl
  static word_t row[UP_DEPTH];
  for (int y = 0; y < height; y++) {
    for (int x = 0; x < width; x++) {
      for (int b = 0; b < beats; b++) {
#pragma HLS PIPELINE II=1
        row[x * beats + b] = in.read().data;
      }
      for (int i = 0; i < 2 * beats; i++) {
#pragma HLS PIPELINE II=1
        out.write(make_beat(row[x * beats + i % beats], false));
      }
    }
    for (int i = 0; i < 2 * width * beats; i++) {
#pragma HLS PIPELINE II=1
      const int x = i / (2 * beats), b = i % beats;
      out.write(make_beat(row[x * beats + b], y == height - 1 && i == 2 * width * beats - 1));
    }
  }
}
