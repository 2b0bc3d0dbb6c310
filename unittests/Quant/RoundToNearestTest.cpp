//===- RoundToNearestTest.cpp - RTN baselines and R2Q against them --------===//

#include "r2q/Quant/RoundToNearest.h"
#include "r2q/Quant/Reference.h"

#include "RandomWeights.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <string>
#include <vector>

using namespace r2q::quant;
using namespace r2q::test;

namespace {

// 512 x 512 = 262144 weights: Monte-Carlo standard error of an MSE is well
// under 1% for these distributions.
constexpr int64_t kRows = 512, kCols = 512;

double rtnMse(const std::vector<float> &w, int64_t groupSize,
              RoundToNearestKind kind, int bits = 2) {
  std::vector<float> out(w.size(), NAN);
  MatrixView view = MatrixView::ofFloats(w.data(), kRows, kCols);
  Status status = roundToNearest(view, groupSize, bits, kind, out.data(), 2);
  EXPECT_TRUE(status.ok()) << status.message();
  return measureError(view, out.data()).meanSquaredError();
}

double r2qMse(const std::vector<float> &w, int64_t groupSize, Method method,
              FloatType scaleType = FloatType::F16) {
  MatrixView view = MatrixView::ofFloats(w.data(), kRows, kCols);
  Scheme scheme{groupSize, 2, method, scaleType};
  PackedWeight packed;
  Status status = quantize(view, scheme, packed, {2, 100});
  EXPECT_TRUE(status.ok()) << status.message();
  std::vector<float> out(w.size());
  dequantize(packed, out.data(), 2);
  return measureError(view, out.data()).meanSquaredError();
}

TEST(RoundToNearestTest, GaussianG128MatchesPaperAndLosesToR2Q) {
  std::vector<float> w = gaussianWeights(kRows * kCols, 501);
  double rtn = rtnMse(w, 128, RoundToNearestKind::MinMax);
  double greedy = r2qMse(w, 128, Method::Greedy);
  double refined = r2qMse(w, 128, Method::Refined);
  std::printf("[ measured ] N(0,1) G=128: RTN min/max mse=%.4f, R2Q greedy "
              "mse=%.4f, refined mse=%.4f\n",
              rtn, greedy, refined);
  ::testing::Test::RecordProperty("normal_g128_rtn", std::to_string(rtn));
  ::testing::Test::RecordProperty("normal_g128_greedy", std::to_string(greedy));
  EXPECT_NEAR(rtn, 0.252, 0.05 * 0.252);
  EXPECT_NEAR(greedy, 0.128, 0.03 * 0.128);
  EXPECT_LT(greedy, rtn * 0.6);
  EXPECT_LE(refined, greedy);
}

TEST(RoundToNearestTest, LaplaceG128MatchesPaperAndLosesToR2Q) {
  std::vector<float> w =
      randomWeights(Distribution::Laplace, kRows * kCols, 502);
  double rtn = rtnMse(w, 128, RoundToNearestKind::MinMax);
  double greedy = r2qMse(w, 128, Method::Greedy);
  double refined = r2qMse(w, 128, Method::Refined);
  std::printf("[ measured ] Laplace G=128: RTN min/max mse=%.4f, R2Q greedy "
              "mse=%.4f, refined mse=%.4f\n",
              rtn, greedy, refined);
  ::testing::Test::RecordProperty("laplace_g128_rtn", std::to_string(rtn));
  ::testing::Test::RecordProperty("laplace_g128_greedy",
                                  std::to_string(greedy));
  EXPECT_NEAR(rtn, 0.323, 0.06 * 0.323);
  EXPECT_NEAR(greedy, 0.226, 0.04 * 0.226);
  EXPECT_LT(greedy, rtn);
  EXPECT_LE(refined, greedy);
}

TEST(RoundToNearestTest, R2QErrorBarelyDependsOnGroupSizeRTNGrows) {
  std::vector<float> w = gaussianWeights(kRows * kCols, 503);
  double rtn32 = rtnMse(w, 32, RoundToNearestKind::MinMax);
  double rtn512 = rtnMse(w, 512, RoundToNearestKind::MinMax);
  double r2q32 = r2qMse(w, 32, Method::Greedy, FloatType::F32);
  double r2q512 = r2qMse(w, 512, Method::Greedy, FloatType::F32);
  std::printf("[ measured ] N(0,1): RTN G=32 %.4f G=512 %.4f; R2Q G=32 %.4f "
              "G=512 %.4f\n",
              rtn32, rtn512, r2q32, r2q512);
  EXPECT_NEAR(rtn32, 0.165, 0.05 * 0.165);
  EXPECT_NEAR(r2q32, 0.122, 0.03 * 0.122);
  EXPECT_GT(rtn512, 1.5 * rtn32);
  EXPECT_LT(r2q512, 1.1 * r2q32);
}

TEST(RoundToNearestTest, MinMaxUsesAUniformGridWithIntegerZeroPoint) {
  const int64_t rows = 8, cols = 96, groupSize = 24;
  std::vector<float> w = randomWeights(Distribution::Laplace, rows * cols, 504);
  // Make one group entirely positive: the grid must still include 0.
  for (int64_t i = 0; i < groupSize; ++i)
    w[i] = 1.f + std::fabs(w[i]);
  std::vector<float> out(w.size());
  ASSERT_TRUE(roundToNearest(MatrixView::ofFloats(w.data(), rows, cols),
                             groupSize, 2, RoundToNearestKind::MinMax,
                             out.data(), 1)
                  .ok());
  for (int64_t start = 0; start < rows * cols; start += groupSize) {
    float low =
        std::min(0.f, *std::min_element(&w[start], &w[start] + groupSize));
    float high =
        std::max(0.f, *std::max_element(&w[start], &w[start] + groupSize));
    double scale = (static_cast<double>(high) - low) / 3;
    std::set<float> values(&out[start], &out[start] + groupSize);
    EXPECT_LE(values.size(), 4u);
    for (int64_t i = start; i < start + groupSize; ++i) {
      // Every value is an integer multiple of the scale (the zero point is an
      // integer), within 3 steps of 0 on either side.
      double steps = out[i] / scale;
      EXPECT_NEAR(steps, std::round(steps), 1e-5) << i;
      EXPECT_LE(std::fabs(steps), 3 + 1e-5) << i;
      // The grid ends lie within half a step of min and max (the zero point
      // is rounded), so no weight is more than half a step away.
      EXPECT_LE(std::fabs(w[i] - out[i]), 0.5 * scale * (1 + 1e-5)) << i;
    }
  }
  // The all-positive group: grid {0, s, 2s, 3s}, s = max / 3.
  float high = *std::max_element(w.begin(), w.begin() + groupSize);
  for (int64_t i = 0; i < groupSize; ++i) {
    double steps = out[i] / (high / 3.0);
    EXPECT_NEAR(steps, std::nearbyint(w[i] / (high / 3.0)), 1e-5);
  }
}

TEST(RoundToNearestTest, AbsMaxUsesOddMultiplesOfAThird) {
  const int64_t rows = 4, cols = 64, groupSize = 16;
  std::vector<float> w = gaussianWeights(rows * cols, 505, 2.0);
  std::vector<float> out(w.size());
  ASSERT_TRUE(roundToNearest(MatrixView::ofFloats(w.data(), rows, cols),
                             groupSize, 2, RoundToNearestKind::AbsMax,
                             out.data(), 1)
                  .ok());
  for (int64_t start = 0; start < rows * cols; start += groupSize) {
    double absMax = 0;
    int64_t argMax = start;
    for (int64_t i = start; i < start + groupSize; ++i)
      if (std::fabs(w[i]) > absMax) {
        absMax = std::fabs(w[i]);
        argMax = i;
      }
    EXPECT_NEAR(out[argMax], w[argMax], 1e-6 * absMax); // +-absmax exact
    for (int64_t i = start; i < start + groupSize; ++i) {
      double third = out[i] / (absMax / 3);
      double nearestOdd = 2 * std::floor(third / 2) + 1;
      EXPECT_NEAR(third, nearestOdd, 1e-5) << i;
      EXPECT_LE(std::fabs(third), 3 + 1e-5);
      EXPECT_LE(std::fabs(w[i] - out[i]), absMax / 3 * (1 + 1e-5)) << i;
    }
  }
}

TEST(RoundToNearestTest, EightBitsIsNearlyExact) {
  const int64_t rows = 4, cols = 256;
  std::vector<float> w = gaussianWeights(rows * cols, 506);
  std::vector<float> out(w.size());
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  ASSERT_TRUE(
      roundToNearest(view, 64, 8, RoundToNearestKind::MinMax, out.data()).ok());
  double eight = measureError(view, out.data()).meanSquaredError();
  ASSERT_TRUE(
      roundToNearest(view, 64, 4, RoundToNearestKind::MinMax, out.data()).ok());
  double four = measureError(view, out.data()).meanSquaredError();
  EXPECT_LT(eight, 1e-4);
  EXPECT_LT(eight * 100, four);
}

TEST(RoundToNearestTest, AllZeroGroupsStayZero) {
  const int64_t rows = 3, cols = 64;
  std::vector<float> w = gaussianWeights(rows * cols, 507);
  std::fill(w.begin() + cols, w.begin() + 2 * cols, 0.f); // row 1
  for (RoundToNearestKind kind :
       {RoundToNearestKind::MinMax, RoundToNearestKind::AbsMax}) {
    std::vector<float> out(w.size(), NAN);
    ASSERT_TRUE(roundToNearest(MatrixView::ofFloats(w.data(), rows, cols), 32,
                               2, kind, out.data())
                    .ok());
    for (int64_t i = 0; i < rows * cols; ++i) {
      EXPECT_FALSE(std::isnan(out[i])) << i;
      if (i >= cols && i < 2 * cols) {
        EXPECT_EQ(out[i], 0.f) << i;
      }
    }
  }
}

TEST(RoundToNearestTest, RejectsNonFiniteWeightsWithPosition) {
  const int64_t rows = 6, cols = 40;
  std::vector<float> w = gaussianWeights(rows * cols, 508);
  w[4 * cols + 33] = -INFINITY;
  w[5 * cols + 1] = NAN;
  std::vector<float> out(w.size(), 12345.f);
  Status status = roundToNearest(MatrixView::ofFloats(w.data(), rows, cols), 8,
                                 2, RoundToNearestKind::MinMax, out.data(), 3);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("row 4"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("column 33"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("-Inf"), std::string::npos)
      << status.message();
  for (float x : out)
    EXPECT_EQ(x, 12345.f); // nothing written
}

TEST(RoundToNearestTest, RejectsBadGroupSizeAndBitCount) {
  std::vector<float> w = gaussianWeights(2 * 30, 509);
  std::vector<float> out(w.size());
  MatrixView view = MatrixView::ofFloats(w.data(), 2, 30);
  EXPECT_FALSE(
      roundToNearest(view, 0, 2, RoundToNearestKind::MinMax, out.data()).ok());
  Status zeroBits =
      roundToNearest(view, 10, 0, RoundToNearestKind::AbsMax, out.data());
  EXPECT_FALSE(zeroBits.ok());
  EXPECT_FALSE(zeroBits.message().empty());
  EXPECT_FALSE(
      roundToNearest(view, 10, 9, RoundToNearestKind::MinMax, out.data()).ok());
  EXPECT_TRUE(
      roundToNearest(view, 10, 2, RoundToNearestKind::MinMax, out.data()).ok());
}

} // namespace

// Found by r2q-fuzz-quant: with weights spanning [-FLT_MAX, FLT_MAX] the
// rounded zero point puts an outer level half a step past the range, which
// overflowed to -inf. Finite weights must reconstruct to finite values.
TEST(RoundToNearestTest, WeightsNearFloatMaxStayFinite) {
  const float big = std::numeric_limits<float>::max();
  std::vector<float> w = {-big,        big, -big, 0.5f * big,
                          -0.9f * big, big, 0.0f, -big};
  for (RoundToNearestKind kind :
       {RoundToNearestKind::MinMax, RoundToNearestKind::AbsMax}) {
    for (int bits : {1, 2, 3, 8}) {
      std::vector<float> out(w.size());
      ASSERT_TRUE(roundToNearest(MatrixView::ofFloats(w.data(), 1, 8), 8, bits,
                                 kind, out.data())
                      .ok());
      for (float value : out)
        EXPECT_TRUE(std::isfinite(value)) << "bits " << bits;
    }
  }
}
