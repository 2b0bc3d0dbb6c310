//===- Bandwidth.h - The machine's own memory bandwidth ---------*- C++ -*-===//
//
// Benchmarks compare against what this machine can stream from memory,
// measured in the same run: the floor of a memory-bound kernel is its bytes
// divided by this bandwidth.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_BENCH_BANDWIDTH_H
#define R2Q_BENCH_BANDWIDTH_H

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace r2q::bench {

/// Single-thread read bandwidth in bytes per second, STREAM-style: the best
/// of several passes summing a `bytes`-sized buffer (far larger than the
/// caches) as four concurrent streams, which a kernel walking several rows at
/// once also enjoys.
inline double measureReadBandwidth(size_t bytes = size_t(512) << 20) {
  constexpr int kStreams = 4, kLanes = 8;
  std::vector<float> buffer(bytes / sizeof(float), 1.0f);
  const size_t perStream = buffer.size() / kStreams;
  double best = 0;
  volatile float sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    auto start = std::chrono::steady_clock::now();
    float lanes[kStreams][kLanes] = {};
    for (size_t i = 0; i + kLanes <= perStream; i += kLanes)
      for (int stream = 0; stream < kStreams; ++stream)
        for (int lane = 0; lane < kLanes; ++lane)
          lanes[stream][lane] += buffer[stream * perStream + i + lane];
    std::chrono::duration<double> seconds =
        std::chrono::steady_clock::now() - start;
    float total = 0;
    for (const auto &stream : lanes)
      for (float lane : stream)
        total += lane;
    sink = sink + total; // Every lane is used: no load can be dropped.
    best = std::max(best, bytes / seconds.count());
  }
  return best;
}

} // namespace r2q::bench

#endif // R2Q_BENCH_BANDWIDTH_H
