//===- OutliersTest.cpp - Dense + sparse R2Q and weighted groups ----------===//
//
// Outliers are the largest weights (or those far above their group's RMS),
// kept exactly as corrections and left out of the scales; importance-weighted
// groups minimize sum_i h_i (w_i - w_hat_i)^2. Fresh random data per run; the
// seed is printed on failure.
//
//===----------------------------------------------------------------------===//

#include "RandomWeights.h"

#include "r2q/Quant/Outliers.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

using namespace r2q::quant;
using r2q::test::Distribution;
using r2q::test::freshSeed;
using r2q::test::randomWeights;

namespace {

Scheme schemeWithOutliers(int64_t groupSize, double fraction,
                          double threshold = 0,
                          FloatType valueType = FloatType::F16) {
  Scheme scheme;
  scheme.groupSize = groupSize;
  scheme.outliers = {fraction, threshold, valueType};
  return scheme;
}

bool isOutlier(const OutlierColumns &columns, int64_t row, int64_t col) {
  return std::binary_search(columns[row].begin(), columns[row].end(), col);
}

TEST(OutliersTest, FractionKeepsExactlyTheLargestMagnitudes) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int64_t rows = 37, cols = 200;
  std::vector<float> w =
      randomWeights(Distribution::StudentT4, rows * cols, seed);
  // Ties at the cut: a few equal magnitudes of both signs.
  w[5] = 9.f, w[300] = -9.f, w[4000] = 9.f;
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  for (double fraction : {0.001, 0.005, 0.05}) {
    OutlierColumns kept =
        selectOutliers(view, {fraction, 0, FloatType::F16}, 64);
    int64_t count = 0;
    float smallestKept = INFINITY, largestLeft = 0;
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(std::is_sorted(kept[r].begin(), kept[r].end()));
      for (int64_t c = 0; c < cols; ++c) {
        float magnitude = std::fabs(w[r * cols + c]);
        if (isOutlier(kept, r, c))
          smallestKept = std::min(smallestKept, magnitude), ++count;
        else
          largestLeft = std::max(largestLeft, magnitude);
      }
    }
    EXPECT_EQ(count, std::llround(fraction * rows * cols));
    EXPECT_GE(smallestKept, largestLeft);
  }
}

TEST(OutliersTest, ThresholdKeepsWeightsFarAboveTheirGroupRms) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int64_t rows = 9, cols = 100, groupSize = 32; // A last group of 4.
  std::vector<float> w =
      randomWeights(Distribution::Laplace, rows * cols, seed);
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  const double threshold = 2.5;
  OutlierColumns kept =
      selectOutliers(view, {0, threshold, FloatType::F16}, groupSize);
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groupsPerRow(cols, groupSize); ++g) {
      int64_t begin = g * groupSize;
      int64_t end = begin + groupLength(cols, groupSize, g);
      double sumOfSquares = 0;
      for (int64_t c = begin; c < end; ++c)
        sumOfSquares += double(w[r * cols + c]) * w[r * cols + c];
      double limit = threshold * std::sqrt(sumOfSquares / (end - begin));
      for (int64_t c = begin; c < end; ++c) {
        EXPECT_EQ(isOutlier(kept, r, c), std::fabs(w[r * cols + c]) > limit)
            << "row " << r << ", column " << c;
        count += isOutlier(kept, r, c);
      }
    }
  }
  EXPECT_GT(count, 0); // Laplace tails reach 2.5 RMS.
}

// A "super weight" (6.07 in a row whose spread is 0.02) survives exactly with
// f32 corrections and to f16 precision with f16 ones; without outliers it is
// lost.
TEST(OutliersTest, InjectedSuperWeightSurvives) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int64_t rows = 16, cols = 576;
  std::vector<float> w =
      randomWeights(Distribution::Gaussian, rows * cols, seed, 0.02);
  const int64_t row = 3, col = 517; // In the shorter last group of 576/128.
  w[row * cols + col] = 6.07f;
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  for (FloatType type : {FloatType::F32, FloatType::F16}) {
    PackedWeight packed;
    ASSERT_TRUE(
        quantize(view, schemeWithOutliers(128, 0.001, 0, type), packed).ok());
    float decoded = packed.value(row, col);
    float tolerance = type == FloatType::F32 ? 6.07f * 1e-6f : 6.07f * 1e-3f;
    EXPECT_NEAR(decoded, 6.07f, tolerance);
    std::vector<float> reconstruction(rows * cols);
    dequantize(packed, reconstruction.data());
    EXPECT_EQ(reconstruction[row * cols + col], decoded);
  }
  PackedWeight plain;
  ASSERT_TRUE(quantize(view, Scheme{}, plain).ok());
  EXPECT_LT(plain.value(row, col), 3.0f);
}

// Outliers take no part in the scales: the rest of the matrix is quantized
// as if the outliers were absent (importance 0), and each outlier decodes to
// its weight: planes (its nearest level) plus correction.
TEST(OutliersTest, ScalesIgnoreOutliersAndCorrectionsAreExact) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int64_t rows = 11, cols = 96, groupSize = 32;
  std::vector<float> w =
      randomWeights(Distribution::StudentT4, rows * cols, seed);
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  Scheme scheme = schemeWithOutliers(groupSize, 0.02, 0, FloatType::F32);
  PackedWeight packed;
  ASSERT_TRUE(quantize(view, scheme, packed).ok());
  OutlierColumns kept = selectOutliers(view, scheme.outliers, groupSize);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < cols / groupSize; ++g) {
      // Stage 1 of greedy: the mean magnitude of the kept weights.
      double sum = 0;
      int64_t count = 0;
      for (int64_t c = g * groupSize; c < (g + 1) * groupSize; ++c)
        if (!isOutlier(kept, r, c))
          sum += std::fabs(w[r * cols + c]), ++count;
      EXPECT_EQ(packed.scale(0, r, g),
                roundTo(FloatType::F16, static_cast<float>(sum / count)));
    }
    for (int64_t c : kept[r])
      EXPECT_NEAR(packed.value(r, c), w[r * cols + c],
                  1e-6 * std::fabs(w[r * cols + c]));
  }
  EXPECT_EQ(packed.outliers.count(), std::llround(0.02 * rows * cols));
}

TEST(OutliersTest, StorageCountsOffsetsColumnsAndValues) {
  const int64_t rows = 20, cols = 256;
  std::vector<float> w =
      randomWeights(Distribution::Gaussian, rows * cols, freshSeed());
  PackedWeight plain, sparse;
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  ASSERT_TRUE(quantize(view, Scheme{}, plain).ok());
  ASSERT_TRUE(quantize(view, schemeWithOutliers(128, 0.01), sparse).ok());
  int64_t nnz = sparse.outliers.count();
  ASSERT_EQ(nnz, std::llround(0.01 * rows * cols));
  // i32 row offsets, i16 columns (K <= 32768), f16 corrections.
  EXPECT_EQ(sparse.storageBytes(),
            plain.storageBytes() + 4 * (rows + 1) + nnz * (2 + 2));
  EXPECT_EQ(SparseOutliers::columnBytes(32768), 2);
  EXPECT_EQ(SparseOutliers::columnBytes(32769), 4);
  EXPECT_DOUBLE_EQ(sparse.bitsPerWeight(),
                   8.0 * sparse.storageBytes() / (rows * cols));
}

TEST(OutliersTest, OutliersLowerTheErrorOfHeavyTailedWeights) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int64_t rows = 64, cols = 512;
  std::vector<float> w =
      randomWeights(Distribution::StudentT4, rows * cols, seed);
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  auto relativeError = [&](const Scheme &scheme) {
    PackedWeight packed;
    EXPECT_TRUE(quantize(view, scheme, packed).ok());
    std::vector<float> reconstruction(rows * cols);
    dequantize(packed, reconstruction.data());
    return measureError(view, reconstruction.data()).relativeError();
  };
  double plain = relativeError(Scheme{});
  double sparse = relativeError(schemeWithOutliers(128, 0.005));
  EXPECT_LT(sparse, 0.95 * plain);
}

TEST(OutliersTest, DeterministicAcrossThreadCounts) {
  const int64_t rows = 33, cols = 192;
  std::vector<float> w =
      randomWeights(Distribution::Laplace, rows * cols, freshSeed());
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  Scheme scheme = schemeWithOutliers(64, 0.01, 3.0);
  scheme.method = Method::Refined;
  PackedWeight one, two;
  ASSERT_TRUE(quantize(view, scheme, one, {1, 100}).ok());
  ASSERT_TRUE(quantize(view, scheme, two, {2, 100}).ok());
  EXPECT_EQ(one.signs, two.signs);
  EXPECT_EQ(one.scales, two.scales);
  EXPECT_EQ(one.outliers.columns, two.outliers.columns);
  EXPECT_EQ(one.outliers.values, two.outliers.values);
}

// An outlier beyond f16's range (65504) cannot be an f16 correction: an
// error that says so, never an infinite weight; f32 corrections keep it.
TEST(OutliersTest, CorrectionsThatOverflowF16AreRejected) {
  std::vector<float> w = randomWeights(Distribution::Gaussian, 4 * 32, 7);
  w[2 * 32 + 5] = 1e6f;
  MatrixView view = MatrixView::ofFloats(w.data(), 4, 32);
  PackedWeight packed;
  EXPECT_EQ(quantize(view, schemeWithOutliers(16, 0.01), packed).message(),
            "the outlier at row 2, column 5 overflows f16 corrections; use f32 "
            "corrections");
  ASSERT_TRUE(
      quantize(view, schemeWithOutliers(16, 0.01, 0, FloatType::F32), packed)
          .ok());
  EXPECT_EQ(packed.value(2, 5), 1e6f);
}

// Found by r2q-fuzz-quant (fuzz/regressions/quant/outlier-near-flt-max):
// at the edge of f32's range, the correction w - level rounds so that
// level + correction, as decoders sum it, is infinite. The correction is
// stepped toward zero: the decoded weight is the largest finite value below
// the weight, never infinity.
TEST(OutliersTest, WeightsAtTheEdgeOfF32DecodeFinite) {
  const float largest = std::numeric_limits<float>::max();
  const int64_t rows = 5, cols = 24;
  std::vector<float> w(rows * cols, 0.f);
  w[0] = 2.3470784e-38f;
  w[2] = -1.7014118e38f;
  w[3] = largest;
  w[4] = 3.3961514e38f;
  std::vector<float> importance(cols);
  for (int64_t k = 0; k < cols; ++k)
    importance[k] = static_cast<float>((k * 2654435761u) % 97);
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  Scheme scheme = schemeWithOutliers(6, 0.15, 1.0, FloatType::F32);
  scheme.planes = 1;
  scheme.scaleType = FloatType::F32;
  PackedWeight packed;
  ASSERT_TRUE(quantizeWeighted(view, scheme, importance, packed).ok());
  std::vector<float> decoded(w.size());
  dequantize(packed, decoded.data());
  for (size_t i = 0; i < w.size(); ++i) {
    ASSERT_TRUE(std::isfinite(decoded[i])) << "weight " << i;
    EXPECT_LE(std::fabs(decoded[i] - w[i]), 1e-6 * largest) << "weight " << i;
  }
}

TEST(OutliersTest, InvalidPoliciesAreRejected) {
  std::vector<float> w(8 * 16, 1.f);
  MatrixView view = MatrixView::ofFloats(w.data(), 8, 16);
  PackedWeight packed;
  Status status = quantize(view, schemeWithOutliers(8, 1.0), packed);
  EXPECT_EQ(
      status.message(),
      "the outlier fraction must be at least 0 and below 1, got 1.000000");
  status = quantize(view, schemeWithOutliers(8, 0, -1), packed);
  EXPECT_EQ(status.message(),
            "the outlier threshold must be finite and non-negative, got "
            "-1.000000");
  status =
      quantize(view, schemeWithOutliers(8, 0.1, 0, FloatType::BF16), packed);
  EXPECT_EQ(status.message(), "outlier corrections are f16 or f32, not bf16");
}

//===----------------------------------------------------------------------===//
// Importance-weighted groups
//===----------------------------------------------------------------------===//

TEST(WeightedGroupsTest, UniformImportanceIsThePaper) {
  const int64_t rows = 7, cols = 160;
  std::vector<float> w =
      randomWeights(Distribution::Gaussian, rows * cols, freshSeed());
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  for (Method method : {Method::Greedy, Method::Refined}) {
    Scheme scheme;
    scheme.groupSize = 32;
    scheme.method = method;
    scheme.scaleType = FloatType::F32;
    PackedWeight plain, weighted;
    std::vector<float> importance(cols, 2.5f);
    ASSERT_TRUE(quantize(view, scheme, plain).ok());
    ASSERT_TRUE(quantizeWeighted(view, scheme, importance, weighted).ok());
    EXPECT_EQ(plain.signs, weighted.signs);
    for (size_t i = 0; i < plain.scales.size(); ++i)
      EXPECT_NEAR(plain.scales[i], weighted.scales[i], 1e-6 * plain.scales[i]);
  }
}

// Greedy's stage scale with importance is the weighted least-squares scale
// for its signs, sum h|w| / sum h; refined never does worse than greedy on
// the weighted error; and over many groups, weighting beats the unweighted
// code on the weighted error (each group is a local optimum, so only in
// aggregate).
TEST(WeightedGroupsTest, WeightedScalesMinimizeTheWeightedError) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int64_t size = 64, groups = 800;
  std::vector<float> all =
      randomWeights(Distribution::Laplace, size * groups, seed);
  std::mt19937 generator(seed);
  std::exponential_distribution<float> spread(1.f);
  // The mean log ratio: heavy-tailed importance makes a few groups' errors
  // dominate a plain sum.
  double logRatio = 0;
  for (int64_t group = 0; group < groups; ++group) {
    const float *w = all.data() + group * size;
    std::vector<float> importance(size);
    for (float &h : importance)
      h = spread(generator) * spread(generator); // Heavy-tailed, like X^T X.
    float scales[kMaxPlanes], plainScales[kMaxPlanes];
    std::vector<uint8_t> negative(2 * size), plainNegative(2 * size);
    std::vector<float> residual(size);
    quantizeGroupGreedy(w, size, 2, FloatType::F32, scales, negative.data(),
                        residual.data(), importance.data());
    double weighted = 0, total = 0;
    for (int64_t i = 0; i < size; ++i)
      weighted += importance[i] * std::fabs(w[i]), total += importance[i];
    ASSERT_FLOAT_EQ(scales[0], static_cast<float>(weighted / total));
    double greedyError = groupSquaredError(w, size, 2, scales, negative.data(),
                                           importance.data());
    refineGroup(w, size, 2, FloatType::F32, scales, negative.data(), 100,
                importance.data());
    double refinedError = groupSquaredError(w, size, 2, scales, negative.data(),
                                            importance.data());
    ASSERT_LE(refinedError, greedyError);
    quantizeGroupGreedy(w, size, 2, FloatType::F32, plainScales,
                        plainNegative.data(), residual.data());
    refineGroup(w, size, 2, FloatType::F32, plainScales, plainNegative.data(),
                100);
    logRatio +=
        std::log(refinedError / groupSquaredError(w, size, 2, plainScales,
                                                  plainNegative.data(),
                                                  importance.data())) /
        groups;
  }
  EXPECT_LT(std::exp(logRatio), 0.9);
}

TEST(WeightedGroupsTest, InvalidImportanceIsRejected) {
  std::vector<float> w(4 * 16, 1.f);
  MatrixView view = MatrixView::ofFloats(w.data(), 4, 16);
  Scheme scheme;
  scheme.groupSize = 8;
  PackedWeight packed;
  std::vector<float> importance(15, 1.f);
  EXPECT_EQ(quantizeWeighted(view, scheme, importance, packed).message(),
            "expected one importance per column (16), got 15");
  importance.assign(16, 1.f);
  importance[9] = -1.f;
  EXPECT_EQ(quantizeWeighted(view, scheme, importance, packed).message(),
            "the importance of column 9 is negative or not finite");
}

} // namespace
