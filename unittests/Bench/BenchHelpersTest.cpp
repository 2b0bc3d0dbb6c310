//===- BenchHelpersTest.cpp - The benchmarks' measuring helpers -----------===//
//
// Cheap checks of what bench/Bandwidth.h and bench/ColdTiming.h compute
// (small buffers: no timing is asserted beyond being positive): slices that
// cover a range once, a threaded bandwidth that is a real number of bytes
// per second, an eviction that reads every line of its buffer once on any
// number of threads, the last-level cache found in a sysfs-like directory,
// the number of calls a budget allows, and how r2q-gpu-bench bounds a GPU
// kernel's outputs and describes those that miss (bench/gpu/OutputCheck.h)
// and the kernels a call launched (bench/gpu/LaunchReport.h), which
// otherwise run only on a GPU.
//
//===----------------------------------------------------------------------===//

#include "Bandwidth.h"
#include "ColdTiming.h"
#include "gpu/LaunchReport.h"
#include "gpu/OutputCheck.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

using namespace r2q::bench;

namespace {

TEST(BenchHelpersTest, SlicesCoverTheRangeOnce) {
  for (size_t count : {0, 1, 7, 64, 1001})
    for (int workers : {1, 2, 3, 8}) {
      size_t next = 0;
      for (int index = 0; index < workers; ++index) {
        auto [begin, end] = sliceOf(index, workers, count);
        EXPECT_EQ(begin, next) << count << " items, worker " << index;
        EXPECT_LE(end - begin, count / workers + 1);
        next = end;
      }
      EXPECT_EQ(next, count) << count << " items, " << workers << " workers";
    }
}

TEST(BenchHelpersTest, RunOnThreadsRunsEveryIndexOnce) {
  for (int threads : {1, 2, 5}) {
    std::vector<std::atomic<int>> runs(threads);
    double seconds =
        runOnThreads(threads, [&](int index) { runs[index].fetch_add(1); });
    EXPECT_GE(seconds, 0.0);
    for (int index = 0; index < threads; ++index)
      EXPECT_EQ(runs[index].load(), 1) << "index " << index;
  }
}

TEST(BenchHelpersTest, SumAsStreamsReadsEveryStream) {
  std::vector<float> values(4 * 64, 0.0f);
  for (int stream = 0; stream < 4; ++stream)
    values[stream * 64 + 3] = float(stream + 1);
  EXPECT_EQ(sumAsStreams(values.data(), values.size()), 10.0f);
}

TEST(BenchHelpersTest, ThreadedBandwidthIsPositiveAndFinite) {
  for (int threads : {1, 2, 3}) {
    double bandwidth = measureReadBandwidth(threads, size_t(4) << 20);
    EXPECT_GT(bandwidth, 0.0) << threads << " threads";
    EXPECT_TRUE(std::isfinite(bandwidth)) << threads << " threads";
  }
}

TEST(BenchHelpersTest, EvictionReadsEveryLineOnce) {
  // An odd number of lines, so that threads get unequal parts.
  CacheEvictor evictor(64 * 1001 + 40);
  EXPECT_EQ(evictor.bytes(), size_t(64 * 1001 + 40));
  for (int threads : {1, 2, 3})
    EXPECT_EQ(evictor.evict(threads), 1001u) << threads << " threads";
}

TEST(BenchHelpersTest, ParsesSysfsCacheSizes) {
  EXPECT_EQ(parseCacheSize("32768K"), size_t(32) << 20);
  EXPECT_EQ(parseCacheSize("1M\n"), size_t(1) << 20);
  EXPECT_EQ(parseCacheSize("512"), 512u);
  EXPECT_EQ(parseCacheSize(""), 0u);
  EXPECT_EQ(parseCacheSize("K"), 0u);
  EXPECT_EQ(parseCacheSize("12Q"), 0u);
}

/// A sysfs-like cache directory: the highest level wins, whatever the order
/// of the index directories; an empty one gives the fallback.
TEST(BenchHelpersTest, FindsTheLastLevelCache) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() /
                  ("r2q-bench-cache-" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto write = [&](const char *index, const char *level, const char *size) {
    fs::create_directories(root / index);
    std::ofstream(root / index / "level") << level << "\n";
    std::ofstream(root / index / "size") << size << "\n";
  };
  EXPECT_EQ(lastLevelCacheBytes(root.string(), 123), 123u);
  write("index0", "1", "48K");
  write("index1", "3", "32768K");
  write("index2", "2", "1024K");
  EXPECT_EQ(lastLevelCacheBytes(root.string(), 123), size_t(32) << 20);
  fs::remove_all(root);
}

TEST(BenchHelpersTest, CallsFollowTheBudget) {
  int calls = 0, preparations = 0;
  auto call = [&] { ++calls; };
  auto prepare = [&] { ++preparations; };
  // No time: the minimum, after one warm-up call.
  double median = medianOfPreparedCalls(call, prepare, {0.0, 5, 41});
  EXPECT_EQ(calls, 6);
  EXPECT_EQ(preparations, 5);
  EXPECT_GE(median, 0.0);
  // Ample time, instant calls: the maximum.
  calls = preparations = 0;
  medianOfPreparedCalls(call, prepare, {1e9, 3, 9});
  EXPECT_EQ(calls, 10);
  EXPECT_EQ(preparations, 9);
  // A minimum of 0 still times one call.
  calls = 0;
  medianOfPreparedCalls(call, prepare, {0.0, 0, 0});
  EXPECT_EQ(calls, 2);
  // The median of calls of at least 300, 1 and 2 ms (the warm-up call
  // instant and not counted) is at least 2 ms and, unless a 2 ms sleep
  // overran by 298 ms, below 300.
  const int sleeps[] = {300, 1, 2};
  calls = 0;
  median = medianOfPreparedCalls(
      [&] {
        if (calls > 0)
          std::this_thread::sleep_for(
              std::chrono::milliseconds(sleeps[(calls - 1) % 3]));
        ++calls;
      },
      [] {}, {0.0, 3, 3});
  EXPECT_GE(median, 0.002);
  EXPECT_LT(median, 0.300);
}

TEST(BenchHelpersTest, RangesOfJoinsConsecutiveIndices) {
  std::set<int64_t> indices = {40, 0, 1, 2, 32, 41, 47, 46};
  EXPECT_EQ(rangesOf(indices, 8), "0-2, 32, 40-41, 46-47");
  EXPECT_EQ(rangesOf(indices, 2), "0-2, 32, and 2 more ranges");
  EXPECT_EQ(rangesOf({}, 8), "");
}

TEST(BenchHelpersTest, F16TilesWidenTheErrorBound) {
  ErrorBound exact, f16;
  f16.f16Tiles = true;
  EXPECT_DOUBLE_EQ(exact.of(1000, 2, 3), 1e-2 + 1e-30);
  EXPECT_DOUBLE_EQ(f16.of(1000, 2, 3),
                   1e-2 + 1e-30 + 1000 * (1 + std::ldexp(1.0, -9)) / 1024 +
                       std::ldexp(6.0, -38));
}

TEST(BenchHelpersTest, MissReportSaysWhereOutputsMissed) {
  MissReport misses;
  EXPECT_EQ(misses.describe(10), "");
  // Rows 0-1 of features 16-19 at half their value, one zero, one NaN.
  for (int64_t row = 0; row < 2; ++row)
    for (int64_t feature = 16; feature < 20; ++feature)
      misses.add(row, feature, 0.5 * (feature + 1), feature + 1);
  misses.add(5, 3, 0, 2);
  misses.add(7, 3, std::nan(""), 2);
  EXPECT_EQ(misses.count(), 10);
  EXPECT_EQ(misses.describe(100),
            "  misses: 10 of 100 outputs, 1 of them zero, 1 not finite; "
            "got / want: median 0.5, from 0 to 0.5\n"
            "  rows: 0-1, 5, 7\n"
            "  features: 3, 16-19\n"
            "  first: (0, 16) got 8.5 want 17; (0, 17) got 9 want 18; "
            "(0, 18) got 9.5 want 19; (0, 19) got 10 want 20\n");
}

TEST(BenchHelpersTest, LaunchReportSaysWhatRan) {
  int scaling = 0, gemm = 0, missing = 0;
  std::vector<Launch> launches = {{&scaling, {672, 1, 1}, {32, 4, 1}, 0},
                                  {&gemm, {224, 2, 1}, {32, 4, 1}, 1024},
                                  {&missing, {1, 1, 1}, {256, 1, 1}, 0}};
  auto query = [&](const Launch &launch, R2QCudaKernelInfo &info) {
    if (launch.function == &missing)
      return std::string("r2q: the driver lacks cuFuncGetAttribute");
    bool isGemm = launch.function == &gemm;
    info = {isGemm ? 120 : 23, isGemm ? 8 : 0, isGemm ? 25600 : 0, 90,
            isGemm ? 3 : 16};
    EXPECT_EQ(launch.threads(), 128);
    return std::string();
  };
  EXPECT_EQ(describeLaunches(launches, 132, query),
            "  kernel 1: grid 672x1x1, block 32x4x1, 23 registers, 0 local "
            "bytes, 0 + 0 shared bytes, 16 blocks/SM (0.32 waves), sm_90\n"
            "  kernel 2: grid 224x2x1, block 32x4x1, 120 registers, 8 local "
            "bytes, 25600 + 1024 shared bytes, 3 blocks/SM (1.13 waves), "
            "sm_90\n"
            "  kernel 3: grid 1x1x1, block 256x1x1 (r2q: the driver lacks "
            "cuFuncGetAttribute)\n");
}

} // namespace
