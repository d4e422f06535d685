// A line buffer of ROWS rows x DEPTH beats, used as a ring (row r lives in slot r % ROWS): our own equivalent of
// hls_video.h's LineBuffer, which is not open source. The convolution keeps K_MAX + 1 rows so that the row being
// filled never overwrites one the window still reads; the maxpool engine keeps 2.
#ifndef FPGA_LINE_BUFFER_H
#define FPGA_LINE_BUFFER_H

#include "fpga_axis.h"

template <int ROWS, int DEPTH>
struct LineBuffer {
  word_t rows[ROWS][DEPTH];

  void write(int row, int index, word_t v) {
#pragma HLS INLINE
    rows[row % ROWS][index] = v;
  }
  word_t read(int row, int index) const {
#pragma HLS INLINE
    return rows[row % ROWS][index];
  }
};

#endif
