//===- GroupCode.h - One group's R2Q code, for the tests --------*- C++ -*-===//
//
// The scales, sign bytes and residual of one quantized group, and greedy R2Q
// filling them with poisoned starting values, so that an output the numerics
// core fails to write shows up in the tests.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_UNITTESTS_QUANT_GROUPCODE_H
#define R2Q_UNITTESTS_QUANT_GROUPCODE_H

#include "RandomWeights.h"

#include "r2q/Quant/R2Q.h"

#include <cstdint>
#include <vector>

namespace r2q::test {

/// P scales, P x size sign bytes (1 = negative) and, after greedy, the
/// residual left by the last plane.
struct GroupCode {
  std::vector<float> scales;
  std::vector<uint8_t> negative;
  std::vector<float> residual;

  std::vector<float> reconstruct(int64_t size, int planes) const {
    return reconstructGroup(size, planes, scales.data(), negative.data());
  }

  double error(const std::vector<float> &w, int planes) const {
    return quant::groupSquaredError(w.data(), static_cast<int64_t>(w.size()),
                                    planes, scales.data(), negative.data());
  }
};

/// Greedy R2Q of `w` (the paper), from outputs poisoned with -1 scales and
/// sign bytes of 7.
inline GroupCode greedy(const std::vector<float> &w, int planes,
                        quant::FloatType scaleType = quant::FloatType::F32) {
  auto size = static_cast<int64_t>(w.size());
  GroupCode code;
  code.scales.assign(planes, -1.f);
  code.negative.assign(planes * size, 7);
  code.residual.assign(size, 0.f);
  quant::quantizeGroupGreedy(w.data(), size, planes, scaleType,
                             code.scales.data(), code.negative.data(),
                             code.residual.data());
  return code;
}

} // namespace r2q::test

#endif // R2Q_UNITTESTS_QUANT_GROUPCODE_H
