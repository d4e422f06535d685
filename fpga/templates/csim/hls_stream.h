// C-simulation stand-in for Vivado HLS's hls::stream (a FIFO). Reading an empty stream is a bug in the schedule
// (the hardware would hang): it throws, and the bridge reports it to Python. Used only by our g++ C-simulation;
// Vivado's own hls_stream.h is used in synthesis (this folder is not on its include path).
#ifndef FPGA_CSIM_HLS_STREAM_H
#define FPGA_CSIM_HLS_STREAM_H

#include <deque>
#include <stdexcept>
#include <string>

namespace hls {

template <typename T>
class stream {
 public:
  stream() {}
  explicit stream(const char *name) : name_(name) {}
  T read() {
    if (fifo_.empty()) throw std::runtime_error("read from empty stream " + name_);
    T v = fifo_.front();
    fifo_.pop_front();
    return v;
  }
  void read(T &v) { v = read(); }
  void write(const T &v) { fifo_.push_back(v); }
  bool empty() const { return fifo_.empty(); }
  bool full() const { return false; }
  size_t size() const { return fifo_.size(); }

 private:
  std::deque<T> fifo_;
  std::string name_ = "stream";
};

}  // namespace hls

#endif
