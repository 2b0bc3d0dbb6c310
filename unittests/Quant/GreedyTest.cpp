//===- GreedyTest.cpp - Greedy R2Q of one group (the paper) ---------------===//

#include "r2q/Quant/R2Q.h"

#include "GroupCode.h"
#include "RandomWeights.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdio>
#include <tuple>
#include <vector>

using namespace r2q::quant;
using namespace r2q::test;

namespace {

/// The (planes, group size) sweep.
class GreedySweep : public ::testing::TestWithParam<std::tuple<int, int64_t>> {
protected:
  int planes() const { return std::get<0>(GetParam()); }
  int64_t groupSize() const { return std::get<1>(GetParam()); }
  /// A seed that differs per test, per parameter and per group.
  uint64_t seed(uint64_t test, int group) const {
    return test * 1000003 + planes() * 7919 + groupSize() * 31 + group;
  }
};

TEST_P(GreedySweep, ErrorEnergyIdentityHolds) {
  for (Distribution distribution : kAllDistributions) {
    for (int g = 0; g < 8; ++g) {
      std::vector<float> w =
          randomWeights(distribution, groupSize(),
                        seed(1, g) + static_cast<int>(distribution));
      GroupCode code = greedy(w, planes());
      double energy = squaredNorm(w.data(), groupSize());
      double predicted = energy;
      for (int p = 0; p < planes(); ++p)
        predicted -=
            static_cast<double>(groupSize()) * code.scales[p] * code.scales[p];
      double actual =
          groupSquaredError(w.data(), groupSize(), planes(), code.scales.data(),
                            code.negative.data());
      EXPECT_NEAR(actual, predicted, 1e-5 * energy + 1e-30)
          << distributionName(distribution) << " group " << g;
      // The error computed from scratch in the test agrees.
      double direct =
          squaredDistance(w, code.reconstruct(groupSize(), planes()));
      EXPECT_NEAR(direct, actual, 1e-6 * energy + 1e-30);
    }
  }
}

TEST_P(GreedySweep, ResidualsAreOrthogonalToTheirSigns) {
  for (int g = 0; g < 8; ++g) {
    std::vector<float> w =
        randomWeights(kAllDistributions[g % 4], groupSize(), seed(2, g));
    GroupCode code = greedy(w, planes());
    std::vector<float> r = w; // r_p, the residual plane p quantized
    double scaleOfR0 = 0;
    for (float x : w)
      scaleOfR0 += std::fabs(x);
    for (int p = 0; p < planes(); ++p) {
      const uint8_t *s = code.negative.data() + p * groupSize();
      double sumAbs = 0, meanAbs;
      for (float x : r)
        sumAbs += std::fabs(x);
      meanAbs = sumAbs / groupSize();
      // Plane p is the sign of r_p (sign(0) = +1) and its scale mean|r_p|.
      for (int64_t i = 0; i < groupSize(); ++i)
        if (std::fabs(r[i]) > 1e-6 * meanAbs) {
          ASSERT_EQ(s[i], r[i] < 0 ? 1 : 0) << "plane " << p << " i " << i;
        }
      EXPECT_NEAR(code.scales[p], meanAbs,
                  1e-6 * meanAbs + 1e-6 * scaleOfR0 / groupSize())
          << "plane " << p;
      // r_{p+1} = r_p - a_p s_p is orthogonal to s_p.
      double dot = 0;
      for (int64_t i = 0; i < groupSize(); ++i) {
        r[i] -= s[i] ? -code.scales[p] : code.scales[p];
        dot += s[i] ? -static_cast<double>(r[i]) : r[i];
      }
      EXPECT_LE(std::fabs(dot), 1e-5 * sumAbs + 1e-5 * scaleOfR0)
          << "plane " << p << " group " << g;
    }
    // The returned residual is the last one, w - w_hat.
    for (int64_t i = 0; i < groupSize(); ++i)
      EXPECT_NEAR(code.residual[i], r[i], 1e-6 * (1 + std::fabs(w[i])));
  }
}

TEST_P(GreedySweep, AtMostTwoToThePLevelsAllNonNegativeScales) {
  for (FloatType type : {FloatType::F32, FloatType::F16, FloatType::BF16}) {
    for (int g = 0; g < 6; ++g) {
      std::vector<float> w =
          randomWeights(kAllDistributions[g % 4], groupSize(),
                        seed(3, g) + static_cast<int>(type) * 100);
      GroupCode code = greedy(w, planes(), type);
      for (int p = 0; p < planes(); ++p) {
        EXPECT_GE(code.scales[p], 0.f);
        EXPECT_TRUE(std::isfinite(code.scales[p]));
        // Scales are representable in the scale type.
        EXPECT_EQ(roundTo(type, code.scales[p]), code.scales[p]);
      }
      for (uint8_t flag : code.negative)
        EXPECT_LE(flag, 1);
      std::vector<float> levels = code.reconstruct(groupSize(), planes());
      EXPECT_LE(distinctCount(levels), std::size_t{1} << planes());
    }
  }
}

TEST_P(GreedySweep, NegatingWeightsNegatesReconstruction) {
  for (int g = 0; g < 6; ++g) {
    std::vector<float> w =
        randomWeights(kAllDistributions[g % 4], groupSize(), seed(4, g));
    std::vector<float> negated(w.size());
    for (std::size_t i = 0; i < w.size(); ++i)
      negated[i] = -w[i];
    GroupCode code = greedy(w, planes());
    GroupCode negatedCode = greedy(negated, planes());
    EXPECT_EQ(code.scales, negatedCode.scales);
    std::vector<float> what = code.reconstruct(groupSize(), planes());
    std::vector<float> negatedWhat =
        negatedCode.reconstruct(groupSize(), planes());
    for (int64_t i = 0; i < groupSize(); ++i)
      EXPECT_EQ(negatedWhat[i], -what[i]) << "group " << g << " i " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    PlanesAndGroupSizes, GreedySweep,
    ::testing::Combine(::testing::Values(1, 2, 3, 4),
                       ::testing::Values<int64_t>(1, 2, 7, 8, 100, 128)),
    [](const ::testing::TestParamInfo<GreedySweep::ParamType> &info) {
      // Built by appending: GCC 12 misreports "literal" + std::string.
      std::string name = "P";
      name += std::to_string(std::get<0>(info.param));
      name += "_G";
      name += std::to_string(std::get<1>(info.param));
      return name;
    });

TEST(GreedyTest, FirstScaleIsMeanAbsoluteValueRoundedToScaleType) {
  for (FloatType type : {FloatType::F32, FloatType::F16, FloatType::BF16}) {
    for (int g = 0; g < 20; ++g) {
      std::vector<float> w =
          randomWeights(kAllDistributions[g % 4], 64,
                        200 + g + 50 * static_cast<int>(type), 0.5 + g);
      GroupCode code = greedy(w, 2, type);
      double mean = 0;
      for (float x : w)
        mean += std::fabs(x);
      mean /= w.size();
      double halfUlp = type == FloatType::F32   ? 0x1p-24
                       : type == FloatType::F16 ? 0x1p-11
                                                : 0x1p-8;
      EXPECT_NEAR(code.scales[0], mean, halfUlp * mean * 1.0001)
          << floatTypeName(type);
      EXPECT_EQ(code.scales[0], roundTo(type, static_cast<float>(mean)))
          << floatTypeName(type);
    }
  }
}

TEST(GreedyTest, SignOfZeroIsPositive) {
  std::vector<float> w = gaussianWeights(16, 301);
  w[0] = 0.0f;
  w[3] = -0.0f;
  w[9] = 0.0f;
  w[15] = -0.0f;
  for (int planes = 1; planes <= 4; ++planes) {
    GroupCode code = greedy(w, planes);
    for (int i : {0, 3, 9, 15})
      EXPECT_EQ(code.negative[i], 0) << "planes " << planes << " i " << i;
    // A zero is reconstructed like a small positive weight, so zeros add no
    // extra level.
    std::vector<float> what = code.reconstruct(16, planes);
    EXPECT_LE(distinctCount(what), std::size_t{1} << planes);
    EXPECT_EQ(what[0], what[3]);
    EXPECT_EQ(what[0], what[9]);
  }
}

TEST(GreedyTest, ExactZeroResidualTakesPositiveSign) {
  // w = {1, -1, 1, -1}: a1 = 1 and every residual is exactly 0, whose sign
  // must be +1 in plane 2; a2 = 0.
  std::vector<float> w = {1.f, -1.f, 1.f, -1.f};
  GroupCode code = greedy(w, 2);
  EXPECT_EQ(code.scales[0], 1.f);
  EXPECT_EQ(code.scales[1], 0.f);
  EXPECT_EQ(code.negative, (std::vector<uint8_t>{0, 1, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(groupSquaredError(w.data(), 4, 2, code.scales.data(),
                              code.negative.data()),
            0.0);
}

TEST(GreedyTest, AllZeroGroupGivesZeroScalesAndNoNaN) {
  for (FloatType type : {FloatType::F32, FloatType::F16, FloatType::BF16}) {
    for (int64_t size : {1, 7, 128}) {
      std::vector<float> w(size, 0.f);
      for (int64_t i = 0; i < size; i += 2)
        w[i] = -0.0f;
      GroupCode code = greedy(w, 4, type);
      for (float scale : code.scales)
        EXPECT_EQ(scale, 0.f);
      for (uint8_t flag : code.negative)
        EXPECT_EQ(flag, 0);
      for (float r : code.residual)
        EXPECT_EQ(r, 0.f);
      EXPECT_EQ(groupSquaredError(w.data(), size, 4, code.scales.data(),
                                  code.negative.data()),
                0.0);
    }
  }
}

TEST(GreedyTest, EachScaleIsAtMostTwiceThePreviousOne) {
  // mean|r - a s| <= mean|r| + a = 2a; heavy tails come closest.
  int seed = 310;
  for (int planes = 2; planes <= 4; ++planes)
    for (int64_t size : {2, 7, 32, 128})
      for (int g = 0; g < 20; ++g) {
        std::vector<float> w =
            randomWeights(Distribution::StudentT4, size, seed++);
        GroupCode code = greedy(w, planes);
        for (int p = 1; p < planes; ++p)
          EXPECT_LE(code.scales[p], 2 * code.scales[p - 1] * (1 + 1e-6))
              << "P=" << planes << " G=" << size << " plane " << p;
      }
}

TEST(GreedyTest, SecondScaleMayExceedFirst) {
  // w = {3, 0, 0, 0}: a1 = 0.75, r = {2.25, -0.75, -0.75, -0.75}, a2 = 1.125.
  std::vector<float> w = {3.f, 0.f, 0.f, 0.f};
  GroupCode code = greedy(w, 2);
  EXPECT_EQ(code.scales[0], 0.75f);
  EXPECT_EQ(code.scales[1], 1.125f);
  EXPECT_EQ(code.negative, (std::vector<uint8_t>{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(code.residual,
            (std::vector<float>{1.125f, 0.375f, 0.375f, 0.375f}));
}

TEST(GreedyTest, SingleWeightGroupIsExact) {
  std::vector<float> w = gaussianWeights(5, 302, 4.0);
  for (float x : w) {
    std::vector<float> group = {x};
    GroupCode code = greedy(group, 3);
    EXPECT_EQ(code.scales[0], std::fabs(x));
    EXPECT_EQ(code.scales[1], 0.f);
    EXPECT_EQ(code.negative[0], x < 0 ? 1 : 0);
    EXPECT_EQ(code.reconstruct(1, 3)[0], x);
  }
}

TEST(GreedyTest, ScaleTypeRoundingIsCorrectedByLaterPlanes) {
  // With bf16 scales the first scale is off by up to 2^-9 relative; the
  // residual is taken against the rounded scale, so the error of the whole
  // code stays close to the f32 one.
  std::vector<float> w = gaussianWeights(4096, 303);
  GroupCode f32 = greedy(w, 3, FloatType::F32);
  GroupCode bf16 = greedy(w, 3, FloatType::BF16);
  double errorF32 = groupSquaredError(w.data(), 4096, 3, f32.scales.data(),
                                      f32.negative.data());
  double errorBF16 = groupSquaredError(w.data(), 4096, 3, bf16.scales.data(),
                                       bf16.negative.data());
  EXPECT_LT(errorBF16, errorF32 * 1.01);
  // The residual returned is w - w_hat for the rounded scales.
  std::vector<float> what = bf16.reconstruct(4096, 3);
  for (int i = 0; i < 4096; ++i)
    EXPECT_NEAR(bf16.residual[i], w[i] - what[i], 1e-6);
}

TEST(GreedyTest, StandardNormalLargeGroupMatchesTheory) {
  const int64_t size = 1 << 16;
  std::vector<float> w = gaussianWeights(size, 304);
  GroupCode code = greedy(w, 2);
  double mse = groupSquaredError(w.data(), size, 2, code.scales.data(),
                                 code.negative.data()) /
               size;
  std::printf("[ measured ] greedy N(0,1) G=65536: a1=%.4f a2=%.4f mse=%.4f\n",
              code.scales[0], code.scales[1], mse);
  ::testing::Test::RecordProperty("greedy_normal_mse", std::to_string(mse));
  // Standard errors at this size are about 0.0025 for the scales.
  EXPECT_NEAR(code.scales[0], 0.7979, 0.01);
  EXPECT_NEAR(code.scales[1], 0.4826, 0.01);
  EXPECT_NEAR(mse, 0.1305, 0.02 * 0.1305);
  // Levels +-0.3153 and +-1.2805.
  EXPECT_NEAR(code.scales[0] - code.scales[1], 0.3153, 0.015);
  EXPECT_NEAR(code.scales[0] + code.scales[1], 1.2805, 0.015);
}

TEST(GreedyTest, ErrorDecreasesWithEachPlane) {
  std::vector<float> w = randomWeights(Distribution::Laplace, 256, 305);
  double previous = squaredNorm(w.data(), 256);
  for (int planes = 1; planes <= 4; ++planes) {
    GroupCode code = greedy(w, planes);
    double error = groupSquaredError(w.data(), 256, planes, code.scales.data(),
                                     code.negative.data());
    EXPECT_LT(error, previous * 0.75) << "planes " << planes;
    previous = error;
  }
}

} // namespace
