//===- Bandwidth.h - The machine's own memory bandwidth ---------*- C++ -*-===//
//
// Benchmarks compare against what this machine can stream from memory,
// measured in the same run with the same number of threads as the kernel:
// the floor of a memory-bound kernel is its bytes divided by this bandwidth.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_BENCH_BANDWIDTH_H
#define R2Q_BENCH_BANDWIDTH_H

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <pthread.h>
#include <sched.h>
#include <strings.h>
#include <thread>
#include <utility>
#include <vector>

namespace r2q::bench {

/// The part [begin, end) of `count` items that worker `index` of `workers`
/// takes: contiguous, sizes differing by at most one, together all items.
inline std::pair<size_t, size_t> sliceOf(int index, int workers, size_t count) {
  auto boundary = [&](int i) { return count * i / workers; };
  return {boundary(index), boundary(index + 1)};
}

/// The CPUs the process may run on, as it started (OpenMP later binds the
/// calling thread to one of them).
inline const cpu_set_t &processCpus() {
  static const cpu_set_t cpus = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    return set;
  }();
  return cpus;
}

/// Binds OpenMP's threads to the CPUs, one each (OMP_PROC_BIND=true), unless
/// the environment already says how; called first in a benchmark's main.
/// Unbound, the two threads of the 2-vCPU development machine often share
/// one CPU for a while: batch-1 kernels on two threads then ran at anywhere
/// from 0.5x to 1.7x their one-thread speed from one run to the next
/// (docs/performance.md).
inline void bindOpenMPThreads() {
  processCpus();
  setenv("OMP_PROC_BIND", "true", /*overwrite=*/0);
}

/// Whether OpenMP binds its threads (OMP_PROC_BIND set, and not "false").
inline bool openMPThreadsBound() {
  const char *bind = std::getenv("OMP_PROC_BIND");
  return bind && strcasecmp(bind, "false") != 0;
}

/// Binds the calling thread to the index-th CPU of the process (modulo
/// their count), as OpenMP binds its thread `index`.
inline void bindToCpu(int index) {
  const cpu_set_t &cpus = processCpus();
  int count = CPU_COUNT(&cpus), seen = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &cpus) || seen++ != index % count)
      continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    return;
  }
}

/// Runs `work(index)` for every index in [0, threads), each on its own
/// thread (index 0 on the calling one), released together once all exist;
/// returns the seconds from the release until the last one finished. Where
/// OpenMP binds its threads, thread `index` > 0 runs on the CPU OpenMP's
/// would. The calling thread is left to OpenMP, which binds it to the first
/// CPU at its first parallel region (bound earlier, it would make OpenMP
/// see that one CPU only).
template <typename Work> double runOnThreads(int threads, const Work &work) {
  std::atomic<bool> released{false};
  std::vector<std::thread> others;
  bool bound = openMPThreadsBound();
  for (int index = 1; index < threads; ++index)
    others.emplace_back([&, index] {
      if (bound)
        bindToCpu(index);
      while (!released.load(std::memory_order_acquire))
        std::this_thread::yield();
      work(index);
    });
  auto start = std::chrono::steady_clock::now();
  released.store(true, std::memory_order_release);
  work(0);
  for (std::thread &thread : others)
    thread.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

/// The sum of `count` floats read as four concurrent streams (the way a
/// kernel walking several rows at once reads), every lane used so that no
/// load can be dropped.
inline float sumAsStreams(const float *data, size_t count) {
  constexpr int kStreams = 4, kLanes = 8;
  const size_t perStream = count / kStreams;
  float lanes[kStreams][kLanes] = {};
  for (size_t i = 0; i + kLanes <= perStream; i += kLanes)
    for (int stream = 0; stream < kStreams; ++stream)
      for (int lane = 0; lane < kLanes; ++lane)
        lanes[stream][lane] += data[stream * perStream + i + lane];
  float total = 0;
  for (const auto &stream : lanes)
    for (float lane : stream)
      total += lane;
  return total;
}

/// A buffer far larger than the caches, read to measure the bandwidth.
class ReadBandwidthProbe {
public:
  explicit ReadBandwidthProbe(size_t bytes = size_t(512) << 20)
      : buffer_(bytes / sizeof(float), 1.0f) {}

  /// Read bandwidth of `threads` threads together in bytes per second,
  /// STREAM-style: the best of `passes` passes in which each thread sums
  /// its own slice of the buffer.
  double measure(int threads, int passes = 5) const {
    std::vector<float> sums(threads);
    double best = 0;
    for (int pass = 0; pass < passes; ++pass) {
      double seconds = runOnThreads(threads, [&](int index) {
        auto [begin, end] = sliceOf(index, threads, buffer_.size());
        sums[index] = sumAsStreams(buffer_.data() + begin, end - begin);
      });
      volatile float sink = 0;
      for (float sum : sums)
        sink = sink + sum;
      best = std::max(best, buffer_.size() * sizeof(float) / seconds);
    }
    return best;
  }

private:
  std::vector<float> buffer_;
};

/// The read bandwidth of `threads` threads over a buffer of `bytes`.
inline double measureReadBandwidth(int threads = 1, size_t bytes = size_t(512)
                                                                   << 20) {
  return ReadBandwidthProbe(bytes).measure(threads);
}

} // namespace r2q::bench

#endif // R2Q_BENCH_BANDWIDTH_H
