//===- CalibrationTest.cpp - Activation-aware R2Q -------------------------===//
//
// On inputs with correlated, unevenly scaled features (as real activations
// are), calibration must lower the layer's output error ||X (W - W_hat)^T||
// that plain R2Q ignores: the diagonal of X^T X helps, the full X^T X (error
// feedback) helps more. Fresh random data per run; the seed is printed.
//
//===----------------------------------------------------------------------===//

#include "RandomWeights.h"

#include "r2q/Quant/Calibration.h"
#include "r2q/Quant/R2Q.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>

using namespace r2q::quant;
using r2q::test::Distribution;
using r2q::test::freshSeed;
using r2q::test::randomWeights;

namespace {

/// Calibration inputs X (tokens x cols) with per-feature scales spread over
/// two orders of magnitude and features correlated through a few shared
/// directions, and their X^T X.
struct Activations {
  static constexpr int64_t kDirections = 8;
  int64_t tokens, cols;
  std::vector<float> x;
  std::vector<double> gram, diagonal;

  Activations(int64_t tokens, int64_t cols, uint64_t seed)
      : tokens(tokens), cols(cols), x(tokens * cols), gram(cols * cols),
        diagonal(cols) {
    std::vector<float> z =
        randomWeights(Distribution::Gaussian, tokens * cols, seed);
    std::vector<float> featureScale =
        randomWeights(Distribution::Gaussian, cols, seed + 1);
    std::vector<float> mixing =
        randomWeights(Distribution::Gaussian, kDirections * cols, seed + 4);
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t k = 0; k < cols; ++k) {
        // Mostly a few shared directions (activations have a low effective
        // rank), plus a little noise of their own.
        float mixed = 0.3f * z[t * cols + k];
        for (int64_t r = 0; r < kDirections; ++r)
          mixed += z[t * cols + r] * mixing[r * cols + k];
        x[t * cols + k] = mixed * std::exp(1.5f * featureScale[k]);
      }
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t i = 0; i < cols; ++i)
        for (int64_t j = 0; j < cols; ++j)
          gram[i * cols + j] += double(x[t * cols + i]) * x[t * cols + j];
    for (int64_t k = 0; k < cols; ++k)
      diagonal[k] = gram[k * cols + k];
  }

  /// ||X (W - W_hat)^T||^2 for an N x cols weight and its quantization.
  double outputError(const std::vector<float> &w,
                     const PackedWeight &packed) const {
    std::vector<float> reconstruction(w.size());
    dequantize(packed, reconstruction.data());
    double total = 0;
    for (int64_t n = 0; n < packed.rows; ++n)
      for (int64_t t = 0; t < tokens; ++t) {
        double y = 0;
        for (int64_t k = 0; k < cols; ++k)
          y += double(x[t * cols + k]) *
               (w[n * cols + k] - reconstruction[n * cols + k]);
        total += y * y;
      }
    return total;
  }
};

class CalibrationTest : public ::testing::TestWithParam<Method> {};

// Full statistics are never worse than the diagonal on any layer (each row
// keeps the better of the two codes on the very loss measured here). That
// each helps on average is checked over several independent layers: one
// layer alone is sometimes an exception.
TEST_P(CalibrationTest, FullStatisticsBeatDiagonalBeatPlain) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int64_t rows = 24, cols = 96, layers = 16;
  // Sums of log ratios: the layers' errors differ by orders of magnitude,
  // and a plain sum would be one layer's.
  double diagonalGain = 0, fullGain = 0;
  for (int64_t layer = 0; layer < layers; ++layer) {
    uint64_t layerSeed = seed + 8 * layer;
    Activations activations(400, cols, layerSeed);
    std::vector<float> w =
        randomWeights(Distribution::Gaussian, rows * cols, layerSeed + 2, 0.05);
    MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
    Scheme scheme;
    scheme.groupSize = 32;
    scheme.method = GetParam();
    PackedWeight plain, diagonal, full;
    ASSERT_TRUE(quantize(view, scheme, plain).ok());
    ASSERT_TRUE(
        quantizeCalibrated(view, scheme, {{}, activations.diagonal}, diagonal)
            .ok());
    ASSERT_TRUE(
        quantizeCalibrated(view, scheme, {activations.gram, {}}, full).ok());
    double diagonalError = activations.outputError(w, diagonal);
    double fullError = activations.outputError(w, full);
    EXPECT_LE(fullError, diagonalError * (1 + 1e-9)) << "layer " << layer;
    diagonalGain +=
        std::log(diagonalError / activations.outputError(w, plain)) / layers;
    fullGain += std::log(fullError / diagonalError) / layers;
  }
  // Geometric means of the ratios over the layers.
  EXPECT_LT(std::exp(diagonalGain), 0.9);
  EXPECT_LT(std::exp(fullGain), 0.8);
}

INSTANTIATE_TEST_SUITE_P(Methods, CalibrationTest,
                         ::testing::Values(Method::Greedy, Method::Refined));

// With uncorrelated inputs of equal scale there is nothing to feed back:
// error feedback reduces to nearest-level coding on greedy scales, and each
// row is never worse than greedy's own code.
TEST(CalibrationFeedbackTest, IdentityStatisticsNeverWorseThanGreedy) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int64_t rows = 16, cols = 100; // A shorter last group of 4.
  std::vector<float> w =
      randomWeights(Distribution::Laplace, rows * cols, seed);
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  std::vector<double> identity(cols * cols, 0.0);
  for (int64_t k = 0; k < cols; ++k)
    identity[k * cols + k] = 7.0;
  Scheme scheme;
  scheme.groupSize = 32;
  scheme.scaleType = FloatType::F32;
  PackedWeight greedy, feedback;
  ASSERT_TRUE(quantize(view, scheme, greedy).ok());
  ASSERT_TRUE(quantizeCalibrated(view, scheme, {identity, {}}, feedback).ok());
  std::vector<float> a(rows * cols), b(rows * cols);
  dequantize(greedy, a.data());
  dequantize(feedback, b.data());
  for (int64_t row = 0; row < rows; ++row) {
    double greedyError = 0, feedbackError = 0;
    for (int64_t i = row * cols; i < (row + 1) * cols; ++i) {
      greedyError += (w[i] - a[i]) * (w[i] - a[i]);
      feedbackError += (w[i] - b[i]) * (w[i] - b[i]);
    }
    EXPECT_LE(feedbackError, greedyError * (1 + 1e-6)) << "row " << row;
  }
}

TEST(CalibrationFeedbackTest, OutliersStayExactAndResultIsDeterministic) {
  uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int64_t rows = 21, cols = 64;
  Activations activations(200, cols, seed);
  std::vector<float> w =
      randomWeights(Distribution::StudentT4, rows * cols, seed + 3);
  w[5 * cols + 40] = 25.f;
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  Scheme scheme;
  scheme.groupSize = 16;
  scheme.outliers = {0.01, 0, FloatType::F32};
  CalibrationOptions one, two;
  one.threads = 1;
  two.threads = 2;
  std::atomic<int64_t> lastReported{0};
  two.progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, rows);
    lastReported = std::max<int64_t>(lastReported, done);
  };
  PackedWeight a, b;
  ASSERT_TRUE(
      quantizeCalibrated(view, scheme, {activations.gram, {}}, a, one).ok());
  ASSERT_TRUE(
      quantizeCalibrated(view, scheme, {activations.gram, {}}, b, two).ok());
  EXPECT_EQ(lastReported, rows);
  EXPECT_EQ(a.signs, b.signs);
  EXPECT_EQ(a.scales, b.scales);
  EXPECT_EQ(a.outliers.values, b.outliers.values);
  ASSERT_FALSE(a.outliers.empty());
  // The super weight is an outlier: it keeps the value the feedback from
  // the columns before it left (no level of its group comes near 25).
  EXPECT_GT(a.value(5, 40), 20.f);
}

TEST(CalibrationFeedbackTest, BadStatisticsAreRejected) {
  const int64_t rows = 4, cols = 16;
  std::vector<float> w(rows * cols, 0.5f);
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  Scheme scheme;
  scheme.groupSize = 8;
  PackedWeight packed;
  std::vector<double> small(10, 1.0);
  EXPECT_EQ(quantizeCalibrated(view, scheme, {small, {}}, packed).message(),
            "expected X^T X of 16 x 16 values, got 10");
  EXPECT_EQ(quantizeCalibrated(view, scheme, {{}, small}, packed).message(),
            "expected the diagonal of X^T X (16 values), got 10");
  std::vector<double> negative(cols, 1.0);
  negative[3] = -2.0;
  EXPECT_EQ(quantizeCalibrated(view, scheme, {{}, negative}, packed).message(),
            "X^T X has a negative or non-finite diagonal entry at column 3");
  // Positive diagonal, but indefinite: [[1, 2], [2, 1]] blocks.
  std::vector<double> indefinite(cols * cols, 0.0);
  for (int64_t k = 0; k < cols; k += 2) {
    indefinite[k * cols + k] = indefinite[(k + 1) * cols + k + 1] = 1.0;
    indefinite[k * cols + k + 1] = indefinite[(k + 1) * cols + k] = 2.0;
  }
  CalibrationOptions undamped;
  undamped.dampening = 0;
  EXPECT_EQ(
      quantizeCalibrated(view, scheme, {indefinite, {}}, packed, undamped)
          .message(),
      "X^T X is not positive definite even with dampening 0.000000; collect "
      "more calibration tokens or raise the dampening");
}

} // namespace
