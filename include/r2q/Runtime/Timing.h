//===- Timing.h - Medians of repeated runs ----------------------*- C++ -*-===//
//
// These machines are shared and noisy: report medians of repeated runs and
// compare ratios measured in the same process, never single times.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_RUNTIME_TIMING_H
#define R2Q_RUNTIME_TIMING_H

#include <algorithm>
#include <chrono>
#include <vector>

namespace r2q {

/// Median wall time of `run()` in seconds over `repetitions` runs, after
/// `warmup` untimed runs.
template <typename Run>
double medianSeconds(Run &&run, int repetitions = 21, int warmup = 3) {
  for (int i = 0; i < warmup; ++i)
    run();
  std::vector<double> seconds;
  for (int i = 0; i < repetitions; ++i) {
    auto start = std::chrono::steady_clock::now();
    run();
    std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start;
    seconds.push_back(elapsed.count());
  }
  std::nth_element(seconds.begin(), seconds.begin() + seconds.size() / 2,
                   seconds.end());
  return seconds[seconds.size() / 2];
}

} // namespace r2q

#endif // R2Q_RUNTIME_TIMING_H
