// The five engines (one HLS IP each). Scalars are AXI4-Lite registers the ARM writes per pass; streams are
// AXI4-Stream ports fed by the DMAs through the stream switches.
#ifndef FPGA_ENGINES_H
#define FPGA_ENGINES_H

#include "hls_stream.h"
#include "fpga_axis.h"
#include "fpga_config.h"

// weights: n_out x ksize^2 x in_beats beats (kernel-major, then tap, then channel beat); then in: height x width
// pixels x in_beats beats. psum: per pixel n_out 32-bit partial sums, two per beat.
void conv_engine(hls::stream<axis64> &in, hls::stream<axis64> &weights, hls::stream<axis64> &psum, int height,
                 int width, int in_beats, int n_out, int ksize);

// bias (last pass only): n_out 32-bit biases, two per beat. Per pixel: n_out/2 psum beats (+ n_out/2 prev beats
// unless first); out: n_out/4 beats of 16-bit data on the last pass, else n_out/2 beats of partial sums.
void acc_engine(hls::stream<axis64> &psum, hls::stream<axis64> &prev, hls::stream<axis64> &bias,
                hls::stream<axis64> &out, int pixels, int n_out, int first, int last, int leaky, int shift);

// 2x2 max, stride 1 or 2, darknet's padding (window clipped at the bottom/right edge).
void maxpool_engine(hls::stream<axis64> &in, hls::stream<axis64> &out, int height, int width, int beats,
                    int stride);

// nearest-neighbour x2.
void upsample_engine(hls::stream<axis64> &in, hls::stream<axis64> &out, int height, int width, int beats);

// logistic table on x, y, obj, class channels (Q0.15 out); w, h pass. channel_offset: first channel of the fold.
void yolo_engine(hls::stream<axis64> &in, hls::stream<axis64> &out, int pixels, int beats, int channel_offset,
                 int classes, int frac);

#endif
