//===- OutputCheck.h - GPU kernels' outputs against the numerics core -----===//
//
// What r2q-gpu-bench holds a kernel's outputs to, apart from the GPU so that
// the unit tests run it: each output's error bound, and a report of the
// outputs that miss theirs that says where they lie (rows, features, zeros,
// values that are not finite, the ratio of what came to what was expected).
// A GPU is lent for minutes: the log of one run must say enough to find a
// kernel's bug after the GPU is gone.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_BENCH_GPU_OUTPUTCHECK_H
#define R2Q_BENCH_GPU_OUTPUTCHECK_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

namespace r2q::bench {

/// How far one output of x (a row) times a weight (a feature) may be from
/// the exact product.
struct ErrorBound {
  /// The error of an exact kernel (f32 sums), relative to sum_k |x_k w_k|.
  static constexpr double kRelative = 1e-5;

  /// The kernel rounds x and the decoded w to f16 once each after exact
  /// powers of two (mma_gemm, docs/gpu.md "Precision"): 2^-10 (1 + 2^-9) of
  /// sum |x w|, and a subnormal step of 2^-38 max |x| sum |w|.
  bool f16Tiles = false;

  /// The bound for an output whose sum_k |x_k w_k| is `magnitude`, whose
  /// row's largest |x| is `largestX` and whose feature's sum_k |w_k| is
  /// `weights`.
  double of(double magnitude, double largestX, double weights) const {
    double bound = kRelative * magnitude + 1e-30;
    if (f16Tiles)
      bound += std::ldexp(1 + std::ldexp(1.0, -9), -10) * magnitude +
               std::ldexp(largestX * weights, -38);
    return bound;
  }
};

/// "0-15, 32, 40-47": the sorted `indices` as ranges, at most `most` of
/// them and then how many more.
inline std::string rangesOf(const std::set<int64_t> &indices, size_t most) {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (int64_t index : indices) {
    if (!ranges.empty() && ranges.back().second + 1 == index)
      ranges.back().second = index;
    else
      ranges.push_back({index, index});
  }
  std::string text;
  for (size_t i = 0; i < std::min(most, ranges.size()); ++i) {
    auto [first, last] = ranges[i];
    text += (i ? ", " : "") + std::to_string(first);
    if (last != first)
      text += "-" + std::to_string(last);
  }
  if (ranges.size() > most)
    text += ", and " + std::to_string(ranges.size() - most) + " more ranges";
  return text;
}

/// The outputs that missed their bound, and where.
class MissReport {
public:
  /// Output (row, feature) was `got` where the numerics core says `want`.
  void add(int64_t row, int64_t feature, double got, double want) {
    ++count_;
    rows_.insert(row);
    features_.insert(feature);
    if (got == 0)
      ++zeros_;
    if (!std::isfinite(got))
      ++notFinite_;
    else if (want != 0)
      ratios_.push_back(got / want);
    if (first_.size() < kShown)
      first_.push_back({row, feature, got, want});
  }

  int64_t count() const { return count_; }

  /// Indented lines for the log (empty when nothing missed): how many of
  /// `checked` outputs missed, zeros, values that are not finite, the
  /// median and range of got / want, the rows and features that missed,
  /// and the first few misses.
  std::string describe(int64_t checked) const {
    if (count_ == 0)
      return "";
    std::string text = "  misses: " + std::to_string(count_) + " of " +
                       std::to_string(checked) + " outputs, " +
                       std::to_string(zeros_) + " of them zero, " +
                       std::to_string(notFinite_) + " not finite";
    if (!ratios_.empty()) {
      std::vector<double> sorted = ratios_;
      std::sort(sorted.begin(), sorted.end());
      text += "; got / want: median " + number(sorted[sorted.size() / 2]) +
              ", from " + number(sorted.front()) + " to " +
              number(sorted.back());
    }
    text += "\n  rows: " + rangesOf(rows_, kRanges) +
            "\n  features: " + rangesOf(features_, kRanges) + "\n  first:";
    for (const Miss &miss : first_)
      text += " (" + std::to_string(miss.row) + ", " +
              std::to_string(miss.feature) + ") got " + number(miss.got) +
              " want " + number(miss.want) + ";";
    text.back() = '\n';
    return text;
  }

private:
  static constexpr size_t kShown = 4;
  static constexpr size_t kRanges = 12;

  struct Miss {
    int64_t row, feature;
    double got, want;
  };

  static std::string number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", value);
    return text;
  }

  int64_t count_ = 0, zeros_ = 0, notFinite_ = 0;
  std::set<int64_t> rows_, features_;
  std::vector<double> ratios_;
  std::vector<Miss> first_;
};

} // namespace r2q::bench

#endif // R2Q_BENCH_GPU_OUTPUTCHECK_H
