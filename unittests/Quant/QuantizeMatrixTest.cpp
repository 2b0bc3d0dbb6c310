//===- QuantizeMatrixTest.cpp - quantize() and dequantize() on matrices ---===//

#include "r2q/Quant/Parallel.h"
#include "r2q/Quant/R2Q.h"

#include "RandomWeights.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

using namespace r2q::quant;
using namespace r2q::test;

namespace {

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// A sentinel result that a failing quantize() must leave alone.
PackedWeight sentinel() {
  PackedWeight weight;
  weight.rows = 42;
  weight.signs = {1, 2, 3};
  return weight;
}

void expectUntouched(const PackedWeight &weight) {
  EXPECT_EQ(weight.rows, 42);
  EXPECT_EQ(weight.signs, (std::vector<uint8_t>{1, 2, 3}));
}

void expectSameWeight(const PackedWeight &a, const PackedWeight &b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  EXPECT_EQ(a.groupSize, b.groupSize);
  EXPECT_EQ(a.planes, b.planes);
  EXPECT_EQ(a.scaleType, b.scaleType);
  EXPECT_EQ(a.signs, b.signs);
  EXPECT_EQ(a.scales, b.scales);
}

// (rows, cols, group size, planes, method)
using LayoutParam = std::tuple<int64_t, int64_t, int64_t, int, Method>;

class LayoutSweep : public ::testing::TestWithParam<LayoutParam> {
protected:
  int64_t rows() const { return std::get<0>(GetParam()); }
  int64_t cols() const { return std::get<1>(GetParam()); }
  Scheme scheme(FloatType type = FloatType::F16) const {
    return {std::get<2>(GetParam()), std::get<3>(GetParam()),
            std::get<4>(GetParam()), type};
  }
  uint64_t seed() const {
    return rows() * 7 + cols() * 131 + std::get<2>(GetParam()) * 1009 +
           std::get<3>(GetParam()) * 17 +
           static_cast<int>(std::get<4>(GetParam())) * 3;
  }
};

TEST_P(LayoutSweep, PackedLayoutEqualsGroupLevelResults) {
  const Scheme s = scheme();
  std::vector<float> w =
      randomWeights(Distribution::Laplace, rows() * cols(), seed());
  PackedWeight packed = sentinel();
  Status status = quantize(MatrixView::ofFloats(w.data(), rows(), cols()), s,
                           packed, {2, 100});
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_EQ(
      packed.signs.size(),
      static_cast<std::size_t>(s.planes * rows() * packedBytesPerRow(cols())));
  // ceil(K / G) groups per row; a shorter last group when G does not divide
  // K, quantized as a group of its own length.
  const int64_t groups = (cols() + s.groupSize - 1) / s.groupSize;
  ASSERT_EQ(packed.scales.size(),
            static_cast<std::size_t>(s.planes * rows() * groups));
  const int64_t g = s.groupSize;
  std::vector<float> scales(s.planes), residual(g);
  std::vector<uint8_t> negative(s.planes * g);
  for (int64_t r = 0; r < rows(); ++r) {
    for (int64_t group = 0; group < groups; ++group) {
      const int64_t length = std::min(g, cols() - group * g);
      const float *w0 = &w[r * cols() + group * g];
      quantizeGroupGreedy(w0, length, s.planes, s.scaleType, scales.data(),
                          negative.data(), residual.data());
      if (s.method == Method::Refined)
        refineGroup(w0, length, s.planes, s.scaleType, scales.data(),
                    negative.data(), 100);
      for (int p = 0; p < s.planes; ++p) {
        // Scale position: planes x rows x groups.
        EXPECT_EQ(packed.scales[(p * rows() + r) * groups + group], scales[p])
            << "plane " << p << " row " << r << " group " << group;
        // Sign position: bit (c % 8) of byte c / 8 of row (p, r).
        const uint8_t *rowBits =
            packed.signs.data() + (p * rows() + r) * packedBytesPerRow(cols());
        for (int64_t i = 0; i < length; ++i) {
          int64_t c = group * g + i;
          ASSERT_EQ(rowBits[c / 8] >> (c % 8) & 1, negative[p * length + i])
              << "plane " << p << " row " << r << " col " << c;
        }
      }
    }
    // Padding bits past K are zero.
    if (cols() % 8) {
      for (int p = 0; p < s.planes; ++p)
        EXPECT_EQ(packed.signRow(p, r)[cols() / 8] >> (cols() % 8), 0);
    }
  }
}

TEST_P(LayoutSweep, DequantizeEqualsValueAndThreadsAreBitIdentical) {
  const Scheme s = scheme(FloatType::BF16);
  std::vector<float> w = gaussianWeights(rows() * cols(), seed() + 1);
  MatrixView view = MatrixView::ofFloats(w.data(), rows(), cols());
  PackedWeight one, two, three;
  ASSERT_TRUE(quantize(view, s, one, {1, 100}).ok());
  ASSERT_TRUE(quantize(view, s, two, {2, 100}).ok());
  ASSERT_TRUE(quantize(view, s, three, {3, 100}).ok());
  expectSameWeight(one, two);
  expectSameWeight(one, three);

  std::vector<float> out1(w.size(), NAN), out3(w.size(), NAN);
  dequantize(one, out1.data(), 1);
  dequantize(one, out3.data(), 3);
  EXPECT_EQ(out1, out3);
  double error = 0, energy = 0;
  for (int64_t r = 0; r < rows(); ++r)
    for (int64_t c = 0; c < cols(); ++c) {
      ASSERT_EQ(out1[r * cols() + c], one.value(r, c)) << r << "," << c;
      double d = w[r * cols() + c] - out1[r * cols() + c];
      error += d * d;
      energy += static_cast<double>(w[r * cols() + c]) * w[r * cols() + c];
    }
  // A real approximation: well below the energy of the weights.
  EXPECT_LT(error, 0.5 * energy);
}

TEST_P(LayoutSweep, HalfPrecisionInputsMatchConvertedFloatInputs) {
  std::vector<float> w = gaussianWeights(rows() * cols(), seed() + 2, 0.05);
  for (FloatType inputType : {FloatType::F16, FloatType::BF16}) {
    HalfMatrix half = toHalfMatrix(w, inputType);
    MatrixView halfView{half.bits.data(), inputType, rows(), cols()};
    PackedWeight fromHalf, fromFloat;
    ASSERT_TRUE(quantize(halfView, scheme(), fromHalf, {2, 100}).ok());
    ASSERT_TRUE(
        quantize(MatrixView::ofFloats(half.widened.data(), rows(), cols()),
                 scheme(), fromFloat, {1, 100})
            .ok());
    expectSameWeight(fromHalf, fromFloat);
  }
}

INSTANTIATE_TEST_SUITE_P(
    RaggedShapes, LayoutSweep,
    ::testing::Values(LayoutParam{1, 128, 128, 2, Method::Greedy},
                      LayoutParam{3, 1024, 128, 2, Method::Greedy},
                      LayoutParam{17, 36, 12, 2, Method::Greedy},
                      LayoutParam{17, 36, 12, 3, Method::Refined},
                      LayoutParam{3, 12, 12, 4, Method::Greedy},
                      LayoutParam{1, 96, 12, 1, Method::Refined},
                      LayoutParam{17, 56, 7, 2, Method::Refined},
                      LayoutParam{3, 13, 13, 2, Method::Greedy},
                      LayoutParam{5, 20, 1, 2, Method::Greedy},
                      LayoutParam{17, 256, 32, 4, Method::Refined},
                      // Shorter last groups: K = 576 = 4.5 x 128 (SmolLM2),
                      // K not a multiple of 8, K < G.
                      LayoutParam{3, 576, 128, 2, Method::Greedy},
                      LayoutParam{5, 100, 32, 3, Method::Refined},
                      LayoutParam{4, 13, 8, 2, Method::Greedy},
                      LayoutParam{2, 13, 8, 4, Method::Refined},
                      LayoutParam{3, 40, 128, 2, Method::Greedy},
                      LayoutParam{7, 50, 64, 1, Method::Refined}),
    [](const ::testing::TestParamInfo<LayoutParam> &info) {
      std::string name = "N";
      name += std::to_string(std::get<0>(info.param));
      name += "_K";
      name += std::to_string(std::get<1>(info.param));
      name += "_G";
      name += std::to_string(std::get<2>(info.param));
      name += "_P";
      name += std::to_string(std::get<3>(info.param));
      name += "_";
      name += methodName(std::get<4>(info.param));
      return name;
    });

TEST(QuantizeMatrixTest, AllZeroRowAmongRandomRows) {
  const int64_t rows = 5, cols = 64;
  std::vector<float> w = gaussianWeights(rows * cols, 1001);
  for (int64_t c = 0; c < cols; ++c)
    w[2 * cols + c] = c % 3 ? 0.f : -0.f;
  for (Method method : {Method::Greedy, Method::Refined}) {
    Scheme scheme{16, 3, method, FloatType::F16};
    PackedWeight packed;
    ASSERT_TRUE(
        quantize(MatrixView::ofFloats(w.data(), rows, cols), scheme, packed)
            .ok());
    std::vector<float> out(w.size());
    dequantize(packed, out.data());
    for (int p = 0; p < 3; ++p)
      for (int64_t g = 0; g < 4; ++g) {
        EXPECT_EQ(packed.scale(p, 2, g), 0.f);
        EXPECT_GT(packed.scale(0, 1, g), 0.f); // neighbours are real
      }
    for (int64_t i = 0; i < rows * cols; ++i) {
      EXPECT_FALSE(std::isnan(out[i])) << i;
      if (i / cols == 2) {
        EXPECT_EQ(out[i], 0.f) << i;
      }
    }
  }
}

TEST(QuantizeMatrixTest, NaNWeightIsReportedWithRowAndColumn) {
  const int64_t rows = 9, cols = 128; // the default scheme has G = 128
  std::vector<float> w = gaussianWeights(rows * cols, 1002);
  w[5 * cols + 17] = NAN;
  w[7 * cols + 3] = NAN; // later in row-major order
  for (unsigned threads : {1u, 3u}) {
    PackedWeight packed = sentinel();
    Status status = quantize(MatrixView::ofFloats(w.data(), rows, cols),
                             Scheme{}, packed, {threads, 100});
    ASSERT_FALSE(status.ok());
    EXPECT_TRUE(contains(status.message(), "row 5")) << status.message();
    EXPECT_TRUE(contains(status.message(), "column 17")) << status.message();
    EXPECT_TRUE(contains(status.message(), "NaN")) << status.message();
    expectUntouched(packed);
  }
}

TEST(QuantizeMatrixTest, InfiniteWeightIsReportedWithRowAndColumn) {
  const int64_t rows = 4, cols = 256;
  std::vector<float> w = gaussianWeights(rows * cols, 1003);
  w[3 * cols + 200] = INFINITY;
  PackedWeight packed = sentinel();
  Status status = quantize(MatrixView::ofFloats(w.data(), rows, cols), Scheme{},
                           packed, {2, 100});
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(contains(status.message(), "row 3, column 200 is +Inf"))
      << status.message();
  expectUntouched(packed);
}

TEST(QuantizeMatrixTest, NonFiniteHalfInputIsReported) {
  const int64_t rows = 3, cols = 32;
  std::vector<float> w = gaussianWeights(rows * cols, 1004);
  HalfMatrix half = toHalfMatrix(w, FloatType::F16);
  half.bits[1 * cols + 31] = 0xfc00; // -inf
  PackedWeight packed = sentinel();
  Status status =
      quantize({half.bits.data(), FloatType::F16, rows, cols},
               Scheme{32, 2, Method::Greedy, FloatType::F16}, packed);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(contains(status.message(), "row 1, column 31 is -Inf"))
      << status.message();
  expectUntouched(packed);
  HalfMatrix brain = toHalfMatrix(w, FloatType::BF16);
  brain.bits[2 * cols + 0] = 0x7fc1; // NaN
  status = quantize({brain.bits.data(), FloatType::BF16, rows, cols},
                    Scheme{32, 2, Method::Greedy, FloatType::F16}, packed);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(contains(status.message(), "row 2, column 0 is NaN"))
      << status.message();
}

TEST(QuantizeMatrixTest, CheckFiniteFindsTheFirstBadWeight) {
  const int64_t rows = 20, cols = 30;
  std::vector<float> w = gaussianWeights(rows * cols, 1005);
  EXPECT_TRUE(checkFinite(MatrixView::ofFloats(w.data(), rows, cols), 4).ok());
  w[19 * cols + 0] = NAN;
  w[11 * cols + 29] = -INFINITY;
  w[11 * cols + 28] = INFINITY;
  for (unsigned threads : {1u, 2u, 4u}) {
    Status status =
        checkFinite(MatrixView::ofFloats(w.data(), rows, cols), threads);
    ASSERT_FALSE(status.ok());
    EXPECT_TRUE(contains(status.message(), "row 11, column 28 is +Inf"))
        << status.message();
  }
}

TEST(QuantizeMatrixTest, RejectsInvalidSchemesWithAMessage) {
  const int64_t rows = 2, cols = 96;
  std::vector<float> w = gaussianWeights(rows * cols, 1006);
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  struct Case {
    Scheme scheme;
    const char *expected;
  };
  const Case cases[] = {
      {{96, 0, Method::Greedy, FloatType::F16}, "planes"},
      {{96, 5, Method::Greedy, FloatType::F16}, "planes"},
      {{96, -1, Method::Refined, FloatType::F16}, "planes"},
      {{0, 2, Method::Greedy, FloatType::F16}, "group size"},
      {{-32, 2, Method::Greedy, FloatType::F16}, "group size"},
  };
  for (const Case &c : cases) {
    PackedWeight packed = sentinel();
    Status status = quantize(view, c.scheme, packed);
    EXPECT_FALSE(status.ok()) << c.expected;
    EXPECT_TRUE(contains(status.message(), c.expected)) << status.message();
    expectUntouched(packed);
    EXPECT_FALSE(verifyScheme(c.scheme, cols).ok());
  }
  EXPECT_TRUE(verifyScheme({96, 4, Method::Greedy, FloatType::F16}, cols).ok());
  // Group sizes that do not divide K, or exceed it, give a shorter last
  // group; no columns at all is an error.
  EXPECT_TRUE(verifyScheme({64, 2, Method::Greedy, FloatType::F16}, cols).ok());
  EXPECT_TRUE(
      verifyScheme({192, 2, Method::Greedy, FloatType::F16}, cols).ok());
  Status noColumns = verifyScheme({8, 2, Method::Greedy, FloatType::F16}, 0);
  EXPECT_FALSE(noColumns.ok());
  EXPECT_TRUE(contains(noColumns.message(), "no columns"))
      << noColumns.message();
  EXPECT_TRUE(verifyScheme({1, 1, Method::Greedy, FloatType::F16}, cols).ok());
}

TEST(QuantizeMatrixTest, HalfScaleOverflowFailsButFloatScalesSucceed) {
  const int64_t rows = 3, cols = 128;
  std::vector<float> w = gaussianWeights(rows * cols, 1007, 1e6);
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  for (Method method : {Method::Greedy, Method::Refined}) {
    PackedWeight packed = sentinel();
    Status status =
        quantize(view, {128, 2, method, FloatType::F16}, packed, {2, 100});
    ASSERT_FALSE(status.ok()) << methodName(method);
    EXPECT_TRUE(contains(status.message(), "row 0, group 0 overflows f16"))
        << status.message();
    expectUntouched(packed);
  }
  for (FloatType type : {FloatType::F32, FloatType::BF16}) {
    PackedWeight packed;
    Status status = quantize(view, {128, 2, Method::Greedy, type}, packed);
    ASSERT_TRUE(status.ok()) << status.message();
    std::vector<float> out(w.size());
    dequantize(packed, out.data());
    double error = 0, energy = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      ASSERT_TRUE(std::isfinite(out[i]));
      error += (w[i] - out[i]) * static_cast<double>(w[i] - out[i]);
      energy += static_cast<double>(w[i]) * w[i];
    }
    EXPECT_LT(error / energy, 0.2) << floatTypeName(type);
  }
}

TEST(QuantizeMatrixTest, OverflowIsReportedForTheFirstOverflowingGroup) {
  // Only row 2, group 1 is large enough to overflow f16.
  const int64_t rows = 4, cols = 64;
  std::vector<float> w = gaussianWeights(rows * cols, 1008);
  for (int64_t c = 32; c < 64; ++c)
    w[2 * cols + c] *= 3e5f;
  PackedWeight packed = sentinel();
  Status status =
      quantize(MatrixView::ofFloats(w.data(), rows, cols),
               {32, 2, Method::Greedy, FloatType::F16}, packed, {3, 100});
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(contains(status.message(), "row 2, group 1")) << status.message();
}

// Finite weights near FLT_MAX can give finite scales whose sum a1 + a2 (the
// largest decoded magnitude) overflows: that must be an error, never silently
// infinite weights (DESIGN.md section 5).
TEST(QuantizeMatrixTest, FiniteWeightsNeverDequantizeToInfinity) {
  // Group 0 of row 0: three weights close to FLT_MAX and one small one, so
  // a1 ~ 0.75 max and a2 ~ 0.375 max; row 1 is ordinary.
  const int64_t rows = 2, cols = 8;
  std::vector<float> w = gaussianWeights(rows * cols, 1010);
  Rng rng(1011);
  for (int i = 0; i < 3; ++i)
    w[i] = FLT_MAX * static_cast<float>(0.95 + 0.05 * rng.uniform());
  for (Method method : {Method::Greedy, Method::Refined}) {
    PackedWeight packed;
    Status status = quantize(MatrixView::ofFloats(w.data(), rows, cols),
                             {4, 2, method, FloatType::F32}, packed);
    if (!status.ok()) {
      // Rejecting such weights is acceptable, with a message.
      EXPECT_FALSE(status.message().empty());
      continue;
    }
    std::vector<float> out(w.size());
    dequantize(packed, out.data());
    for (std::size_t i = 0; i < out.size(); ++i)
      EXPECT_TRUE(std::isfinite(out[i]))
          << methodName(method) << ": weight " << i << " = " << w[i]
          << " dequantizes to " << out[i];
  }
}

TEST(QuantizeMatrixTest, MethodNamesRoundTrip) {
  for (Method method : {Method::Greedy, Method::Refined})
    EXPECT_EQ(parseMethod(methodName(method)), method);
  EXPECT_EQ(methodName(Method::Refined), "refined");
  EXPECT_EQ(parseMethod("greedy"), Method::Greedy);
  EXPECT_FALSE(parseMethod("lloyd").has_value());
}

TEST(QuantizeMatrixTest, ParallelForCoversEveryIndexExactlyOnce) {
  EXPECT_GE(resolveThreadCount(0), 1u);
  EXPECT_EQ(resolveThreadCount(3), 3u);
  for (int64_t count : {0, 1, 2, 5, 17, 64}) {
    for (unsigned threads : {0u, 1u, 2u, 3u, 7u, 100u}) {
      std::vector<int> hits(count, 0);
      std::mutex mutex;
      int calls = 0;
      parallelFor(count, threads, [&](int64_t begin, int64_t end) {
        std::lock_guard<std::mutex> lock(mutex);
        ++calls;
        EXPECT_LT(begin, end);
        for (int64_t i = begin; i < end; ++i)
          ++hits[i];
      });
      for (int64_t i = 0; i < count; ++i)
        EXPECT_EQ(hits[i], 1) << "count " << count << " threads " << threads;
      EXPECT_LE(calls, std::max<int64_t>(count, 0));
      if (threads == 1 && count > 0) {
        EXPECT_EQ(calls, 1);
      }
    }
  }
}

TEST(QuantizeMatrixTest, MaxRefineStepsZeroIsGreedy) {
  const int64_t rows = 6, cols = 256;
  std::vector<float> w =
      randomWeights(Distribution::StudentT4, rows * cols, 1009);
  MatrixView view = MatrixView::ofFloats(w.data(), rows, cols);
  PackedWeight greedy, refinedZero, refined;
  ASSERT_TRUE(
      quantize(view, {64, 2, Method::Greedy, FloatType::F16}, greedy).ok());
  ASSERT_TRUE(quantize(view, {64, 2, Method::Refined, FloatType::F16},
                       refinedZero, {2, 0})
                  .ok());
  ASSERT_TRUE(
      quantize(view, {64, 2, Method::Refined, FloatType::F16}, refined).ok());
  EXPECT_EQ(greedy.signs, refinedZero.signs);
  EXPECT_EQ(greedy.scales, refinedZero.scales);
  EXPECT_NE(greedy.scales, refined.scales);
}

TEST(QuantizeMatrixTest, ZeroRowsIsAnEmptyWeight) {
  std::vector<float> w(1);
  PackedWeight packed = sentinel();
  ASSERT_TRUE(quantize(MatrixView::ofFloats(w.data(), 0, 64),
                       Scheme{64, 2, Method::Greedy, FloatType::F16}, packed)
                  .ok());
  EXPECT_EQ(packed.rows, 0);
  EXPECT_EQ(packed.cols, 64);
  EXPECT_TRUE(packed.signs.empty());
  EXPECT_TRUE(packed.scales.empty());
}

} // namespace
