//===- RefinedTest.cpp - Alternating refinement of a group code -----------===//

#include "r2q/Quant/R2Q.h"

#include "GroupCode.h"
#include "RandomWeights.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>
#include <vector>

using namespace r2q::quant;
using namespace r2q::test;

namespace {

int refine(const std::vector<float> &w, int planes, FloatType type,
           GroupCode &code, int maxSteps = 100) {
  return refineGroup(w.data(), static_cast<int64_t>(w.size()), planes, type,
                     code.scales.data(), code.negative.data(), maxSteps);
}

class RefinedSweep
    : public ::testing::TestWithParam<std::tuple<int, FloatType>> {
protected:
  int planes() const { return std::get<0>(GetParam()); }
  FloatType scaleType() const { return std::get<1>(GetParam()); }
  uint64_t seed(uint64_t test) const {
    return test * 100003 + planes() * 101 + static_cast<int>(scaleType());
  }
};

TEST_P(RefinedSweep, NeverWorseThanGreedyOnAnyGroup) {
  uint64_t next = seed(1) * 1000;
  int improved = 0, groups = 0;
  for (Distribution distribution : kAllDistributions) {
    for (int64_t size : {1, 3, 7, 32, 100, 128}) {
      for (int g = 0; g < 12; ++g) {
        std::vector<float> w = randomWeights(distribution, size, next++);
        GroupCode code = greedy(w, planes(), scaleType());
        double greedyError = code.error(w, planes());
        GroupCode original = code;
        int steps = refine(w, planes(), scaleType(), code);
        double refinedError = code.error(w, planes());
        ++groups;
        EXPECT_LE(refinedError, greedyError)
            << distributionName(distribution) << " G=" << size << " #" << g;
        if (steps == 0) {
          // Nothing kept: the code is unchanged.
          EXPECT_EQ(code.scales, original.scales);
          EXPECT_EQ(code.negative, original.negative);
        } else {
          EXPECT_LT(refinedError, greedyError);
          ++improved;
        }
        for (float scale : code.scales) {
          EXPECT_GE(scale, 0.f);
          EXPECT_EQ(roundTo(scaleType(), scale), scale);
        }
        for (uint8_t flag : code.negative)
          EXPECT_LE(flag, 1);
      }
    }
  }
  // Greedy is already optimal for one plane; with more, refinement must
  // actually help on most groups of 32 or more weights.
  if (planes() > 1) {
    EXPECT_GT(improved, groups / 3);
  }
}

TEST_P(RefinedSweep, NeverWorseThanAnArbitraryStartingCode) {
  Rng rng(seed(2));
  for (int g = 0; g < 40; ++g) {
    int64_t size = 1 + static_cast<int64_t>(rng.next() % 150);
    std::vector<float> w =
        randomWeights(kAllDistributions[g % 4], size, seed(2) * 100 + g);
    GroupCode code;
    code.scales.resize(planes());
    code.negative = randomFlags(planes() * size, seed(2) * 100 + 50 + g);
    for (float &scale : code.scales)
      scale = roundTo(scaleType(), static_cast<float>(2 * rng.uniform()));
    double before = code.error(w, planes());
    refine(w, planes(), scaleType(), code);
    EXPECT_LE(code.error(w, planes()), before) << "group " << g;
  }
}

TEST_P(RefinedSweep, RefinedCodesUseNearestLevels) {
  for (int g = 0; g < 10; ++g) {
    std::vector<float> w =
        randomWeights(kAllDistributions[g % 4], 128, seed(3) * 100 + g);
    GroupCode code = greedy(w, planes(), scaleType());
    if (refine(w, planes(), scaleType(), code) == 0)
      continue;
    // Every weight is coded by (one of) its nearest of the 2^P levels.
    std::vector<double> levels;
    for (unsigned c = 0; c < (1u << planes()); ++c) {
      double level = 0;
      for (int p = 0; p < planes(); ++p)
        level += (c >> p & 1) ? -code.scales[p] : code.scales[p];
      levels.push_back(level);
    }
    std::vector<float> what = reconstructGroup(
        128, planes(), code.scales.data(), code.negative.data());
    for (int i = 0; i < 128; ++i) {
      double best = 1e300;
      for (double level : levels)
        best = std::min(best, std::fabs(w[i] - level));
      EXPECT_LE(std::fabs(w[i] - what[i]), best + 1e-5) << "i " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    PlanesAndScaleTypes, RefinedSweep,
    ::testing::Combine(::testing::Values(1, 2, 3, 4),
                       ::testing::Values(FloatType::F32, FloatType::F16,
                                         FloatType::BF16)),
    [](const ::testing::TestParamInfo<RefinedSweep::ParamType> &info) {
      std::string name = "P";
      name += std::to_string(std::get<0>(info.param));
      name += "_";
      name += floatTypeName(std::get<1>(info.param));
      return name;
    });

TEST(RefinedTest, StandardNormalLargeGroupApproachesLloydMax) {
  const int64_t size = 1 << 16;
  std::vector<float> w = gaussianWeights(size, 401);
  GroupCode code = greedy(w, 2, FloatType::F32);
  double greedyMse = code.error(w, 2) / size;
  int steps = refine(w, 2, FloatType::F32, code);
  double mse = code.error(w, 2) / size;
  double inner = std::fabs(code.scales[0] - code.scales[1]);
  double outer = code.scales[0] + code.scales[1];
  std::printf("[ measured ] refined N(0,1) G=65536: greedy mse=%.4f refined "
              "mse=%.4f after %d steps, levels +-%.4f +-%.4f\n",
              greedyMse, mse, steps, inner, outer);
  ::testing::Test::RecordProperty("refined_normal_mse", std::to_string(mse));
  EXPECT_NEAR(mse, 0.1175, 0.03 * 0.1175);
  EXPECT_LT(mse, greedyMse * 0.95);
  // Lloyd-Max levels +-0.4528 and +-1.5104.
  EXPECT_NEAR(inner, 0.4528, 0.03);
  EXPECT_NEAR(outer, 1.5104, 0.05);
}

TEST(RefinedTest, OnePlaneRefinementKeepsTheOptimalGreedyCode) {
  // For one plane, sign(w) and mean|w| are the least-squares optimum.
  for (int g = 0; g < 20; ++g) {
    std::vector<float> w = randomWeights(kAllDistributions[g % 4], 64, 402 + g);
    GroupCode code = greedy(w, 1, FloatType::F32);
    double greedyError = code.error(w, 1);
    refine(w, 1, FloatType::F32, code);
    EXPECT_NEAR(code.error(w, 1), greedyError, 1e-6 * greedyError);
  }
}

TEST(RefinedTest, ZeroWeightsGetAPositiveLevel) {
  // The refined code must keep sign(0) = +1 as well: a zero lies exactly
  // halfway between the two innermost levels and takes the upper one (its
  // plane-1 flag may be set when a2 > a1, so the level is what is checked).
  for (int planes = 2; planes <= 4; ++planes) {
    std::vector<float> w = gaussianWeights(128, 410 + planes);
    for (int i = 0; i < 128; i += 9)
      w[i] = i % 2 ? -0.0f : 0.0f;
    GroupCode code = greedy(w, planes, FloatType::F32);
    ASSERT_GT(refine(w, planes, FloatType::F32, code), 0);
    std::vector<float> what =
        reconstructGroup(128, planes, code.scales.data(), code.negative.data());
    for (int i = 0; i < 128; i += 9) {
      EXPECT_GE(what[i], 0.f) << "planes " << planes << " i " << i;
    }
  }
}

TEST(RefinedTest, NegatingWeightsNegatesReconstruction) {
  for (int planes = 1; planes <= 4; ++planes) {
    for (int g = 0; g < 10; ++g) {
      std::vector<float> w =
          randomWeights(kAllDistributions[g % 4], 96, 420 + 10 * planes + g);
      std::vector<float> negated(w.size());
      for (std::size_t i = 0; i < w.size(); ++i)
        negated[i] = -w[i];
      GroupCode code = greedy(w, planes, FloatType::F16);
      GroupCode negatedCode = greedy(negated, planes, FloatType::F16);
      refine(w, planes, FloatType::F16, code);
      refine(negated, planes, FloatType::F16, negatedCode);
      std::vector<float> what = reconstructGroup(96, planes, code.scales.data(),
                                                 code.negative.data());
      std::vector<float> negatedWhat = reconstructGroup(
          96, planes, negatedCode.scales.data(), negatedCode.negative.data());
      EXPECT_NEAR(negatedCode.error(negated, planes), code.error(w, planes),
                  1e-9 * code.error(w, planes));
      for (int i = 0; i < 96; ++i)
        EXPECT_NEAR(negatedWhat[i], -what[i], 1e-5f * (1 + std::fabs(w[i])))
            << "planes " << planes << " group " << g << " i " << i;
    }
  }
}

TEST(RefinedTest, AllZeroGroupStaysZero) {
  std::vector<float> w(64, 0.f);
  w[5] = -0.0f;
  GroupCode code = greedy(w, 3, FloatType::F16);
  EXPECT_EQ(refine(w, 3, FloatType::F16, code), 0);
  for (float scale : code.scales)
    EXPECT_EQ(scale, 0.f);
  for (uint8_t flag : code.negative)
    EXPECT_EQ(flag, 0);
}

TEST(RefinedTest, ExactlyRepresentableGroupBecomesExact) {
  // Four levels {-3, -1, 1, 3} are {+-2 +-1}; greedy does not find them from
  // a skewed mix, refinement must.
  std::vector<float> w;
  Rng rng(403);
  const float levels[] = {-3.f, -1.f, 1.f, 3.f};
  const int weights[] = {1, 5, 30, 3};
  for (int i = 0; i < 64; ++i) {
    unsigned pick = static_cast<unsigned>(rng.next() % 39);
    int index = 0;
    while (pick >= static_cast<unsigned>(weights[index])) {
      pick -= weights[index];
      ++index;
    }
    w.push_back(levels[index]);
  }
  GroupCode code = greedy(w, 2, FloatType::F32);
  double greedyError = code.error(w, 2);
  refine(w, 2, FloatType::F32, code);
  EXPECT_GT(greedyError, 0.0);
  EXPECT_NEAR(code.error(w, 2), 0.0, 1e-9);
}

TEST(RefinedTest, MaxStepsZeroChangesNothing) {
  std::vector<float> w = gaussianWeights(128, 404);
  GroupCode code = greedy(w, 2, FloatType::F16);
  GroupCode original = code;
  EXPECT_EQ(refine(w, 2, FloatType::F16, code, 0), 0);
  EXPECT_EQ(code.scales, original.scales);
  EXPECT_EQ(code.negative, original.negative);
  // One step is at most one step.
  EXPECT_LE(refine(w, 2, FloatType::F16, code, 1), 1);
}

} // namespace
