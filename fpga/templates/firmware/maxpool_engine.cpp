// Maxpool engine: 2x2 windows, stride 1 or 2. Output (oy, ox) covers rows oy*s, oy*s+1 and columns ox*s, ox*s+1,
// positions past the bottom/right edge ignored (darknet's padding); it is emitted once pixel (oy*s+1, ox*s+1) has
// arrived, so the loop runs one row and one column past the input (nothing is read there).
#include "engines.h"
#include "line_buffer.h"

static word_t max4(word_t a, word_t b) {
#pragma HLS INLINE
  word_t m = 0;
  for (int l = 0; l < 4; l++) {
#pragma HLS UNROLL
    set_lane16(m, l, lane16(a, l) > lane16(b, l) ? lane16(a, l) : lane16(b, l));
  }
  return m;
}

void maxpool_engine(hls::stream<axis64> &in, hls::stream<axis64> &out, int height, int width, int beats,
                    int stride) {
#pragma HLS INTERFACE axis port=in
#pragma HLS INTERFACE axis port=out
#pragma HLS INTERFACE s_axilite port=height bundle=ctrl
#pragma HLS INTERFACE s_axilite port=width bundle=ctrl
#pragma HLS INTERFACE s_axilite port=beats bundle=ctrl
#pragma HLS INTERFACE s_axilite port=stride bundle=ctrl
#pragma HLS INTERFACE s_axilite port=return bundle=ctrl
  static LineBuffer<2, MP_DEPTH> rows;
#pragma HLS ARRAY_PARTITION variable=rows.rows complete dim=1
  word_t lowest = 0;
  for (int l = 0; l < 4; l++) set_lane16(lowest, l, DATA_MIN);
  const int out_h = (height - 1) / stride + 1, out_w = (width - 1) / stride + 1;
  for (int yy = 0; yy <= height; yy++) {
    for (int xx = 0; xx <= width; xx++) {
      for (int b = 0; b < beats; b++) {
#pragma HLS PIPELINE II=1
        if (yy < height && xx < width) rows.write(yy, xx * beats + b, in.read().data);
        const int oy = (yy - 1) / stride, ox = (xx - 1) / stride;
        if (yy < 1 || xx < 1 || (yy - 1) % stride || (xx - 1) % stride || oy >= out_h || ox >= out_w) continue;
        word_t m = lowest;
        for (int dy = 0; dy < 2; dy++) {
          for (int dx = 0; dx < 2; dx++) {
            const int y = yy - 1 + dy, x = xx - 1 + dx;
            if (y < height && x < width) m = max4(m, rows.read(y, x * beats + b));
          }
        }
        out.write(make_beat(m, oy == out_h - 1 && ox == out_w - 1 && b == beats - 1));
      }
    }
  }
}
