//===- ReferenceTest.cpp - Reference matmuls and error statistics ---------===//

#include "r2q/Quant/Reference.h"

#include "RandomWeights.h"

#include "gtest/gtest.h"

#include <cmath>
#include <limits>
#include <vector>

using namespace r2q::quant;
using namespace r2q::test;

namespace {

/// y = x * W^T with W given as a row-major n x k float matrix, in double,
/// accumulated in the natural order.
std::vector<double> naiveMatmul(const std::vector<float> &x, int64_t m,
                                const std::vector<float> &weights, int64_t n,
                                int64_t k) {
  std::vector<double> y(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t l = 0; l < k; ++l)
        sum += static_cast<double>(x[i * k + l]) * weights[j * k + l];
      y[i * n + j] = sum;
    }
  return y;
}

void expectClose(const std::vector<double> &actual,
                 const std::vector<double> &expected, double scale) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], 1e-12 * scale) << "element " << i;
}

TEST(ReferenceTest, PackedMatmulEqualsNaiveLoopOverDequantizedWeights) {
  for (int64_t m : {1, 3, 17}) {
    const int64_t n = 19, k = 96;
    std::vector<float> w = gaussianWeights(n * k, 1100 + m);
    std::vector<float> x = gaussianWeights(m * k, 1150 + m);
    PackedWeight packed;
    ASSERT_TRUE(quantize(MatrixView::ofFloats(w.data(), n, k),
                         {24, 3, Method::Refined, FloatType::F16}, packed)
                    .ok());
    std::vector<float> dequantized(n * k);
    dequantize(packed, dequantized.data(), 1);
    std::vector<double> expected = naiveMatmul(x, m, dequantized, n, k);
    for (unsigned threads : {1u, 3u}) {
      std::vector<double> y(m * n, std::numeric_limits<double>::quiet_NaN());
      referenceMatmul(x.data(), m, packed, y.data(), threads);
      expectClose(y, expected, static_cast<double>(k));
    }
    // And it is not the float matmul: quantization changed the result.
    std::vector<double> exact = naiveMatmul(x, m, w, n, k);
    double difference = 0;
    for (std::size_t i = 0; i < exact.size(); ++i)
      difference += std::fabs(exact[i] - expected[i]);
    EXPECT_GT(difference, 1e-3);
  }
}

TEST(ReferenceTest, FloatMatmulEqualsNaiveLoop) {
  const int64_t m = 5, n = 13, k = 40;
  std::vector<float> w = randomWeights(Distribution::Laplace, n * k, 1201);
  std::vector<float> x = gaussianWeights(m * k, 1202);
  std::vector<double> expected = naiveMatmul(x, m, w, n, k);
  for (unsigned threads : {1u, 2u, 0u}) {
    std::vector<double> y(m * n, std::numeric_limits<double>::quiet_NaN());
    referenceMatmul(x.data(), m, MatrixView::ofFloats(w.data(), n, k), y.data(),
                    threads);
    expectClose(y, expected, static_cast<double>(k));
  }
}

TEST(ReferenceTest, HalfMatrixViewMatmulUsesConvertedValues) {
  const int64_t m = 3, n = 7, k = 24;
  std::vector<float> w = gaussianWeights(n * k, 1203);
  std::vector<float> x = gaussianWeights(m * k, 1204);
  for (FloatType type : {FloatType::F16, FloatType::BF16}) {
    HalfMatrix half = toHalfMatrix(w, type);
    std::vector<double> expected = naiveMatmul(x, m, half.widened, n, k);
    std::vector<double> y(m * n);
    referenceMatmul(x.data(), m, MatrixView{half.bits.data(), type, n, k},
                    y.data());
    expectClose(y, expected, static_cast<double>(k));
  }
}

TEST(ReferenceTest, MatmulIsAccumulatedInDouble) {
  // 1 + 2^-30 - 1 is lost in float but kept in double.
  std::vector<float> x = {1.f, 1.f, 1.f};
  std::vector<float> w = {1.f, 0x1p-30f, -1.f};
  double y = -1;
  referenceMatmul(x.data(), 1, MatrixView::ofFloats(w.data(), 1, 3), &y, 1);
  EXPECT_EQ(y, 0x1p-30);
}

TEST(ReferenceTest, MeasureErrorOnKnownData) {
  std::vector<float> reference = {1, 2, 3, 4, -1, 0};
  std::vector<float> approximation = {1, 2, 3, 5, -3, 0.5f};
  ErrorStats stats = measureError(MatrixView::ofFloats(reference.data(), 2, 3),
                                  approximation.data());
  EXPECT_EQ(stats.count, 6);
  EXPECT_DOUBLE_EQ(stats.squaredError, 1 + 4 + 0.25);
  EXPECT_DOUBLE_EQ(stats.squaredNorm, 1 + 4 + 9 + 16 + 1);
  EXPECT_DOUBLE_EQ(stats.meanSquaredError(), 5.25 / 6);
  EXPECT_DOUBLE_EQ(stats.relativeError(), std::sqrt(5.25 / 31));
}

TEST(ReferenceTest, MeasureErrorOfHalfReferenceAndDegenerateCases) {
  std::vector<float> values = {0.1f, -0.2f, 0.3f, 1e-3f};
  HalfMatrix half = toHalfMatrix(values, FloatType::F16);
  ErrorStats stats = measureError({half.bits.data(), FloatType::F16, 2, 2},
                                  half.widened.data());
  EXPECT_EQ(stats.squaredError, 0.0);
  EXPECT_EQ(stats.relativeError(), 0.0);
  EXPECT_GT(stats.squaredNorm, 0.13);

  std::vector<float> zeros(4, 0.f), ones(4, 1.f);
  ErrorStats bothZero =
      measureError(MatrixView::ofFloats(zeros.data(), 1, 4), zeros.data());
  EXPECT_EQ(bothZero.relativeError(), 0.0);
  ErrorStats zeroReference =
      measureError(MatrixView::ofFloats(zeros.data(), 1, 4), ones.data());
  EXPECT_TRUE(std::isinf(zeroReference.relativeError()));
  EXPECT_EQ(zeroReference.meanSquaredError(), 1.0);
  EXPECT_EQ(ErrorStats{}.meanSquaredError(), 0.0);
}

TEST(ReferenceTest, QuantizationErrorMatchesGroupErrors) {
  // measureError over a quantized matrix equals the sum of the group errors.
  const int64_t n = 4, k = 64;
  std::vector<float> w = randomWeights(Distribution::StudentT4, n * k, 1205);
  PackedWeight packed;
  ASSERT_TRUE(quantize(MatrixView::ofFloats(w.data(), n, k),
                       {16, 2, Method::Greedy, FloatType::F32}, packed)
                  .ok());
  std::vector<float> out(n * k);
  dequantize(packed, out.data());
  ErrorStats stats =
      measureError(MatrixView::ofFloats(w.data(), n, k), out.data());
  double groups = 0;
  std::vector<float> scales(2), residual(16);
  std::vector<uint8_t> negative(32);
  for (int64_t start = 0; start < n * k; start += 16) {
    quantizeGroupGreedy(&w[start], 16, 2, FloatType::F32, scales.data(),
                        negative.data(), residual.data());
    groups +=
        groupSquaredError(&w[start], 16, 2, scales.data(), negative.data());
  }
  EXPECT_NEAR(stats.squaredError, groups, 1e-9 * groups);
  EXPECT_NEAR(stats.squaredNorm, squaredNorm(w.data(), n * k), 1e-9);
}

} // namespace
