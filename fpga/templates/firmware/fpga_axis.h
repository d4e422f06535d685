// AXI4-Stream beat with side channels, our own equivalent of Xilinx's ap_axiu<64,0,0,0> (ap_axi_sdata.h is not
// open source). Vivado HLS maps the fields named data/keep/last of a struct on an axis port to TDATA/TKEEP/TLAST.
// One beat carries four 16-bit channels (channel 4b+l in bits 16l..16l+15) or two 32-bit partial sums.
#ifndef FPGA_AXIS_H
#define FPGA_AXIS_H

#include "ap_int.h"

typedef ap_uint<64> word_t;
typedef ap_int<16> data_t;
typedef ap_int<32> acc_t;  // wraps like the reference's 32-bit accumulator

struct axis64 {
  word_t data;
  ap_uint<8> keep;
  ap_uint<1> last;
};

static inline axis64 make_beat(word_t data, bool last) {
  axis64 b;
  b.data = data;
  b.keep = 0xFF;
  b.last = last ? 1 : 0;
  return b;
}

static inline data_t lane16(word_t w, int l) {
#pragma HLS INLINE
  return (data_t)w.range(16 * l + 15, 16 * l);
}

static inline acc_t lane32(word_t w, int l) {
#pragma HLS INLINE
  return (acc_t)w.range(32 * l + 31, 32 * l);
}

static inline void set_lane16(word_t &w, int l, data_t v) {
#pragma HLS INLINE
  w.range(16 * l + 15, 16 * l) = (ap_uint<16>)v;
}

static inline void set_lane32(word_t &w, int l, acc_t v) {
#pragma HLS INLINE
  w.range(32 * l + 31, 32 * l) = (ap_uint<32>)v;
}

#endif
