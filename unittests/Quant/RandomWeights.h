//===- RandomWeights.h - Deterministic random weights for tests -*- C++ -*-===//
//
// Seeded generators that do not depend on the standard library's
// distribution implementations, so every platform draws the same numbers.
// All distributions have zero mean and unit variance.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_UNITTESTS_QUANT_RANDOMWEIGHTS_H
#define R2Q_UNITTESTS_QUANT_RANDOMWEIGHTS_H

#include "r2q/Quant/FloatFormats.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numbers>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace r2q::test {

/// A seed from the system, or R2Q_TEST_SEED to replay a failure.
inline uint64_t freshSeed() {
  if (const char *forced = std::getenv("R2Q_TEST_SEED"))
    return std::strtoull(forced, nullptr, 10);
  return std::random_device{}();
}

/// SplitMix64: small, fast, and good enough for test data.
class Rng {
public:
  // The seed is mixed first: a plain multiple of the increment would make
  // the stream of seed s + 1 that of seed s shifted by one draw, and data
  // drawn from nearby seeds would overlap.
  explicit Rng(uint64_t seed) : state_(mix(seed)) {}

  uint64_t next() { return mix(state_ += 0x9e3779b97f4a7c15ull); }
  uint32_t next32() { return static_cast<uint32_t>(next() >> 32); }
  /// Uniform in the open interval (0, 1).
  double uniform() {
    return (static_cast<double>(next() >> 11) + 0.5) * 0x1p-53;
  }
  double gaussian() {
    // Box-Muller; the second value is dropped to keep the state simple.
    double u = uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * v);
  }

private:
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  uint64_t state_;
};

enum class Distribution { Gaussian, Laplace, StudentT4, Uniform };

inline const char *distributionName(Distribution distribution) {
  switch (distribution) {
  case Distribution::Gaussian:
    return "Gaussian";
  case Distribution::Laplace:
    return "Laplace";
  case Distribution::StudentT4:
    return "StudentT4";
  case Distribution::Uniform:
    return "Uniform";
  }
  return "?";
}

inline constexpr Distribution kAllDistributions[] = {
    Distribution::Gaussian, Distribution::Laplace, Distribution::StudentT4,
    Distribution::Uniform};

/// One draw of a zero-mean, unit-variance `distribution`.
inline double sample(Rng &rng, Distribution distribution) {
  switch (distribution) {
  case Distribution::Gaussian:
    return rng.gaussian();
  case Distribution::Laplace: {
    // Scale 1/sqrt(2) gives unit variance.
    double u = rng.uniform() - 0.5;
    double magnitude = -std::log(1.0 - 2.0 * std::fabs(u)) / std::sqrt(2.0);
    return u < 0 ? -magnitude : magnitude;
  }
  case Distribution::StudentT4: {
    // t(4) = Z / sqrt(V / 4) with V ~ chi^2(4) = -2 ln(U1 U2); its variance
    // is 2, so divide by sqrt(2).
    double z = rng.gaussian();
    double v = -2.0 * std::log(rng.uniform() * rng.uniform());
    return z / std::sqrt(v / 4.0) / std::sqrt(2.0);
  }
  case Distribution::Uniform:
    return (2.0 * rng.uniform() - 1.0) * std::sqrt(3.0);
  }
  return 0;
}

/// `count` independent draws, multiplied by `scale`.
inline std::vector<float> randomWeights(Distribution distribution,
                                        std::size_t count, uint64_t seed,
                                        double scale = 1.0) {
  Rng rng(seed);
  std::vector<float> values(count);
  for (float &value : values)
    value = static_cast<float>(scale * sample(rng, distribution));
  return values;
}

inline std::vector<float> gaussianWeights(std::size_t count, uint64_t seed,
                                          double scale = 1.0) {
  return randomWeights(Distribution::Gaussian, count, seed, scale);
}

/// `count` random sign flags (0 or 1).
inline std::vector<uint8_t> randomFlags(std::size_t count, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> flags(count);
  for (uint8_t &flag : flags)
    flag = static_cast<uint8_t>(rng.next() >> 63);
  return flags;
}

/// w_hat of a group code, summed in float plane after plane like the core.
inline std::vector<float> reconstructGroup(int64_t size, int planes,
                                           const float *scales,
                                           const uint8_t *negative) {
  std::vector<float> result(size, 0.f);
  for (int p = 0; p < planes; ++p)
    for (int64_t i = 0; i < size; ++i)
      result[i] += negative[p * size + i] ? -scales[p] : scales[p];
  return result;
}

/// sum_i (a_i - b_i)^2 in double.
inline double squaredDistance(const std::vector<float> &a,
                              const std::vector<float> &b) {
  double total = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    double d = static_cast<double>(a[i]) - b[i];
    total += d * d;
  }
  return total;
}

inline double squaredNorm(const float *w, int64_t size) {
  double total = 0;
  for (int64_t i = 0; i < size; ++i)
    total += static_cast<double>(w[i]) * w[i];
  return total;
}

/// Number of distinct values in `values`.
inline std::size_t distinctCount(const std::vector<float> &values) {
  return std::set<float>(values.begin(), values.end()).size();
}

/// The values converted to the 16-bit `type` (rounded), as raw bits, and the
/// same values widened back to f32.
struct HalfMatrix {
  std::vector<uint16_t> bits;
  std::vector<float> widened;
};

inline HalfMatrix toHalfMatrix(const std::vector<float> &values,
                               quant::FloatType type) {
  HalfMatrix result;
  result.bits.resize(values.size());
  result.widened.resize(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    result.bits[i] = type == quant::FloatType::F16
                         ? quant::floatToHalfBits(values[i])
                         : quant::floatToBFloat16Bits(values[i]);
    result.widened[i] = type == quant::FloatType::F16
                            ? quant::halfBitsToFloat(result.bits[i])
                            : quant::bfloat16BitsToFloat(result.bits[i]);
  }
  return result;
}

} // namespace r2q::test

#endif // R2Q_UNITTESTS_QUANT_RANDOMWEIGHTS_H
