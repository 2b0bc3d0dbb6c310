//===- RoundToNearest.cpp - Uniform-grid baselines ------------------------===//

#include "r2q/Quant/RoundToNearest.h"
#include "r2q/Quant/Parallel.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

namespace r2q::quant {

namespace {

/// Asymmetric min/max grid with an integer zero point. The range always
/// includes 0 (as in GPTQ), so an all-zero group stays exactly zero.
void roundGroupMinMax(const float *w, int64_t size, int levels, float *out) {
  float low = std::min(0.f, *std::min_element(w, w + size));
  float high = std::max(0.f, *std::max_element(w, w + size));
  double scale = (static_cast<double>(high) - low) / (levels - 1);
  if (scale == 0) {
    std::fill(out, out + size, 0.f);
    return;
  }
  double zeroPoint = std::nearbyint(-low / scale);
  for (int64_t i = 0; i < size; ++i) {
    double q = std::clamp(std::nearbyint(w[i] / scale) + zeroPoint, 0.0,
                          static_cast<double>(levels - 1));
    // The rounded zero point can put the outer levels up to half a step
    // beyond [low, high]; near FLT_MAX that would overflow to infinity.
    out[i] = static_cast<float>(
        std::clamp((q - zeroPoint) * scale, double(-FLT_MAX), double(FLT_MAX)));
  }
}

/// Symmetric grid of odd multiples of absmax / (levels - 1).
void roundGroupAbsMax(const float *w, int64_t size, int levels, float *out) {
  double absMax = 0;
  for (int64_t i = 0; i < size; ++i)
    absMax = std::max(absMax, std::fabs(static_cast<double>(w[i])));
  if (absMax == 0) {
    std::fill(out, out + size, 0.f);
    return;
  }
  double step = absMax / (levels - 1);
  for (int64_t i = 0; i < size; ++i) {
    double q = std::clamp(std::nearbyint((w[i] / step + levels - 1) / 2), 0.0,
                          static_cast<double>(levels - 1));
    out[i] = static_cast<float>((2 * q + 1 - levels) * step);
  }
}

} // namespace

Status roundToNearest(const MatrixView &weights, int64_t groupSize, int bits,
                      RoundToNearestKind kind, float *reconstruction,
                      unsigned threads) {
  if (bits < 1 || bits > 8)
    return Status::failure("round-to-nearest takes 1 to 8 bits, got " +
                           std::to_string(bits));
  Scheme shape;
  shape.groupSize = groupSize;
  shape.planes = 1;
  if (Status status = verifyScheme(shape, weights.cols); !status)
    return status;
  if (Status status = checkFinite(weights, threads); !status)
    return status;
  int levels = 1 << bits;
  auto roundGroup =
      kind == RoundToNearestKind::MinMax ? roundGroupMinMax : roundGroupAbsMax;
  parallelFor(weights.rows, threads, [&](int64_t begin, int64_t end) {
    std::vector<float> group(groupSize);
    for (int64_t row = begin; row < end; ++row) {
      for (int64_t col = 0; col < weights.cols; col += groupSize) {
        // A shorter last group is rounded over its own columns only.
        int64_t length = std::min(groupSize, weights.cols - col);
        weights.loadRow(row, col, length, group.data());
        roundGroup(group.data(), length, levels,
                   reconstruction + row * weights.cols + col);
      }
    }
  });
  return Status::success();
}

} // namespace r2q::quant
