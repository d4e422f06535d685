// C++ testbench: feeds one pass's recorded input streams to an engine and compares its output stream with the
// expected beats computed by fpga.reference (bit for bit). Vivado HLS's csim_design builds it per IP with
// -DTB_CONV / -DTB_ACC / -DTB_MAXPOOL / -DTB_UPSAMPLE / -DTB_YOLO and runs it in the folder holding the vectors;
// our g++ C-simulation builds it once with -DTB_ALL and takes the engine name and that folder as arguments.
// Vectors: in0.bin, in1.bin, in2.bin (little-endian uint64 beats), expected.bin, args.txt (the scalar registers).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engines.h"

static std::vector<uint64_t> load(const std::string &path) {
  std::vector<uint64_t> v;
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) return v;
  uint64_t x;
  while (std::fread(&x, sizeof x, 1, f) == 1) v.push_back(x);
  std::fclose(f);
  return v;
}

static void push(hls::stream<axis64> &s, const std::vector<uint64_t> &v) {
  for (size_t i = 0; i < v.size(); i++) s.write(make_beat(word_t(v[i]), i + 1 == v.size()));
}

static bool is(const char *a, const char *b) { return std::strcmp(a, b) == 0; }

int main(int argc, char **argv) {
#if defined(TB_CONV)
  const char *engine = "conv_engine";
#elif defined(TB_ACC)
  const char *engine = "acc_engine";
#elif defined(TB_MAXPOOL)
  const char *engine = "maxpool_engine";
#elif defined(TB_UPSAMPLE)
  const char *engine = "upsample_engine";
#elif defined(TB_YOLO)
  const char *engine = "yolo_engine";
#else
  const char *engine = argc > 1 ? argv[1] : "";
#endif
  const std::string dir = argc > 2 ? std::string(argv[2]) + "/" : "";
  int a[8] = {0};
  FILE *f = std::fopen((dir + "args.txt").c_str(), "r");
  if (!f) {
    std::printf("FAIL: no %sargs.txt\n", dir.c_str());
    return 2;
  }
  for (int i = 0; i < 8 && std::fscanf(f, "%d", &a[i]) == 1; i++) {
  }
  std::fclose(f);
  hls::stream<axis64> s0, s1, s2, out;
  push(s0, load(dir + "in0.bin"));
  push(s1, load(dir + "in1.bin"));
  push(s2, load(dir + "in2.bin"));
  if (false) {
#if defined(TB_CONV) || defined(TB_ALL)
  } else if (is(engine, "conv_engine")) {
    conv_engine(s0, s1, out, a[0], a[1], a[2], a[3], a[4]);
#endif
#if defined(TB_ACC) || defined(TB_ALL)
  } else if (is(engine, "acc_engine")) {
    acc_engine(s0, s1, s2, out, a[0], a[1], a[2], a[3], a[4], a[5]);
#endif
#if defined(TB_MAXPOOL) || defined(TB_ALL)
  } else if (is(engine, "maxpool_engine")) {
    maxpool_engine(s0, out, a[0], a[1], a[2], a[3]);
#endif
#if defined(TB_UPSAMPLE) || defined(TB_ALL)
  } else if (is(engine, "upsample_engine")) {
    upsample_engine(s0, out, a[0], a[1], a[2]);
#endif
#if defined(TB_YOLO) || defined(TB_ALL)
  } else if (is(engine, "yolo_engine")) {
    yolo_engine(s0, out, a[0], a[1], a[2], a[3], a[4]);
#endif
  } else {
    std::printf("FAIL: unknown engine '%s'\n", engine);
    return 2;
  }
  const std::vector<uint64_t> expected = load(dir + "expected.bin");
  size_t n = 0, wrong = 0;
  while (!out.empty()) {
    const uint64_t got = out.read().data.to_uint64();
    if (n >= expected.size() || got != expected[n]) wrong++;
    n++;
  }
  const size_t unread = s0.size() + s1.size() + s2.size();
  if (wrong || n != expected.size() || unread) {
    std::printf("FAIL %s: %zu of %zu beats differ, %zu expected, %zu input beats unread\n", engine, wrong, n,
                expected.size(), unread);
    return 1;
  }
  std::printf("PASS %s: %zu beats equal the reference\n", engine, n);
  return 0;
}
