//===- ColdTiming.h - Timing calls whose weights are not cached -*- C++ -*-===//
//
// A layer called in a loop finds its weights in the last-level cache once
// they fit (4.7 MB of 2-bit 4096 x 4096 weights in a 32 MiB L3), which no
// model's sequence of layers would. Before every timed call the caches are
// emptied by reading a buffer several times the last-level cache; only the
// call is timed, and the number of calls follows a time budget so that slow
// and fast calls both get medians in bounded time.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_BENCH_COLDTIMING_H
#define R2Q_BENCH_COLDTIMING_H

#include "Bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace r2q::bench {

/// Bytes of a sysfs cache size ("32768K", "1M", "512"); 0 if it is not one.
inline size_t parseCacheSize(const std::string &text) {
  size_t digits = 0, value = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    value = value * 10 + (text[digits++] - '0');
  std::string unit = text.substr(digits);
  while (!unit.empty() && (unit.back() == '\n' || unit.back() == ' '))
    unit.pop_back();
  if (digits == 0)
    return 0;
  if (unit.empty())
    return value;
  if (unit == "K")
    return value << 10;
  if (unit == "M")
    return value << 20;
  if (unit == "G")
    return value << 30;
  return 0;
}

/// The size of the highest-level cache of the CPU whose sysfs cache
/// directory is `cacheDirectory` (index0, index1, ... with `level` and
/// `size`), or `fallback` where it names none. sysfs, not sysconf: under
/// virtualization glibc's _SC_LEVEL3_CACHE_SIZE can report the host
/// socket's L3 (384 MiB on these 2-core machines, whose cores share 32 MiB).
inline size_t lastLevelCacheBytes(
    const std::string &cacheDirectory = "/sys/devices/system/cpu/cpu0/cache",
    size_t fallback = size_t(32) << 20) {
  int bestLevel = 0;
  size_t bytes = 0;
  for (int index = 0; index < 16; ++index) {
    std::string directory = cacheDirectory + "/index" + std::to_string(index);
    std::ifstream levelFile(directory + "/level"),
        sizeFile(directory + "/size");
    int level = 0;
    std::string size;
    if (!(levelFile >> level) || !(sizeFile >> size))
      continue;
    if (level > bestLevel && parseCacheSize(size) > 0) {
      bestLevel = level;
      bytes = parseCacheSize(size);
    }
  }
  return bytes ? bytes : fallback;
}

/// Empties the caches of the cores it runs on by reading a buffer several
/// times the last-level cache (on AMD's victim-cache L3 as on inclusive
/// ones, lines read later replace those read before).
class CacheEvictor {
public:
  explicit CacheEvictor(size_t bytes)
      : words_(std::max<size_t>(bytes / sizeof(uint64_t), kWordsPerLine), 1) {}

  size_t bytes() const { return words_.size() * sizeof(uint64_t); }

  /// Reads one word of every cache line of the buffer, the lines split
  /// among `threads` threads (so that every core's private caches are
  /// emptied too); returns the number of lines read.
  uint64_t evict(int threads) {
    const size_t lines = words_.size() / kWordsPerLine;
    std::vector<uint64_t> counts(threads);
    runOnThreads(threads, [&](int index) {
      auto [begin, end] = sliceOf(index, threads, lines);
      uint64_t count = 0;
      for (size_t line = begin; line < end; ++line)
        count += words_[line * kWordsPerLine];
      counts[index] = count;
    });
    uint64_t total = 0;
    for (uint64_t count : counts)
      total += count;
    return total;
  }

private:
  static constexpr size_t kWordsPerLine = 64 / sizeof(uint64_t);
  std::vector<uint64_t> words_;
};

/// How many calls a measurement takes: calls until `seconds` of wall time
/// (preparations included) have passed and at least `minCalls` were timed,
/// at most `maxCalls`.
struct CallBudget {
  double seconds = 0.4;
  int minCalls = 3;
  int maxCalls = 41;
};

/// Median seconds of `call()`, with `prepare()` (untimed: evicting the
/// caches, freeing the previous call's result) before each timed call,
/// after one untimed warm-up call.
template <typename Call, typename Prepare>
double medianOfPreparedCalls(const Call &call, const Prepare &prepare,
                             const CallBudget &budget) {
  using Clock = std::chrono::steady_clock;
  auto secondsSince = [](Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  call();
  std::vector<double> seconds;
  const Clock::time_point begin = Clock::now();
  const int minCalls = std::max(1, budget.minCalls);
  const int maxCalls = std::max(minCalls, budget.maxCalls);
  while (static_cast<int>(seconds.size()) < maxCalls &&
         (static_cast<int>(seconds.size()) < minCalls ||
          secondsSince(begin) < budget.seconds)) {
    prepare();
    Clock::time_point start = Clock::now();
    call();
    seconds.push_back(secondsSince(start));
  }
  std::nth_element(seconds.begin(), seconds.begin() + seconds.size() / 2,
                   seconds.end());
  return seconds[seconds.size() / 2];
}

} // namespace r2q::bench

#endif // R2Q_BENCH_COLDTIMING_H
