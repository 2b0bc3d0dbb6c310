//===- OutlierExecutionTest.cpp - Dense + sparse R2Q, compiled ------------===//
//
// Layers whose weights hold injected large values are quantized by
// r2q-quantize-linear with outliers= or outlier-threshold=, compiled by
// r2q-cpu-pipeline (vector GEMV, fused decode and tiled decode) and run with
// the JIT. The output must be the numerics core's dense + sparse product
// (quant::referenceMatmul of the same quantization) to 1e-5 relative to
// sum_k |x_k w_k|, its weight closer to the float one than plain R2Q's, and the
// compiled module must carry exactly PackedWeight::storageBytes of weight
// data. Fresh random data per test; the seed is printed on failure.
//
//===----------------------------------------------------------------------===//

#include "ExecutionTestSupport.h"

#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"
#include "r2q/Runtime/ModuleStats.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

using namespace r2q;

namespace {

/// How the outliers are chosen.
enum class Selection {
  /// outliers=<fraction>, the fraction that keeps exactly the injected ones.
  Fraction,
  /// outlier-threshold=<t>.
  Threshold,
};

struct Case {
  int64_t m, n, k, groupSize;
  bool dynamicRows;
  Selection selection;
  quant::FloatType valueType;
  /// r2q-cpu-pipeline's vector-gemv option (used for M <= 2).
  bool vectorGemv;
  /// For Selection::Threshold: in units of the group's RMS magnitude.
  double threshold = 4;
  /// r2q-cpu-pipeline's lut-gemv option (static M of 1-8).
  bool lutGemv = false;
};

std::ostream &operator<<(std::ostream &os, const Case &c) {
  return os << "M " << c.m << (c.dynamicRows ? " (dynamic)" : "") << ", N "
            << c.n << ", K " << c.k << ", G " << c.groupSize << ", "
            << (c.selection == Selection::Fraction ? "fraction" : "threshold")
            << ", " << quant::floatTypeName(c.valueType)
            << (c.vectorGemv ? ", vector GEMV" : ", no vector GEMV")
            << (c.lutGemv ? ", LUT GEMV" : "");
}

/// A function @linear(x) -> x * W^T with W an N x K constant.
std::string layerSource(const Case &c, const std::vector<float> &weight) {
  std::string rows = c.dynamicRows ? "?" : std::to_string(c.m);
  std::string rowCount = c.dynamicRows
                             ? llvm::formatv("%c0 = arith.constant 0 : index\n"
                                             "  %m = tensor.dim %x, %c0 : "
                                             "tensor<?x{0}xf32>\n",
                                             c.k)
                                   .str()
                             : "";
  return llvm::formatv(R"(
func.func @linear(%x: tensor<{0}x{1}xf32>) -> tensor<{0}x{2}xf32> {{
  %w = arith.constant dense<{3}> : tensor<{2}x{1}xf32>
  %zero = arith.constant 0.0 : f32
  {4}
  %o = tensor.empty{5} : tensor<{0}x{2}xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<{0}x{2}xf32>) -> tensor<{0}x{2}xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<{0}x{1}xf32>, tensor<{2}x{1}xf32>) outs(%acc : tensor<{0}x{2}xf32>) -> tensor<{0}x{2}xf32>
  return %y : tensor<{0}x{2}xf32>
})",
                       rows, c.k, c.n, test::hexLiteral(weight), rowCount,
                       c.dynamicRows ? "(%m)" : "()")
      .str();
}

/// The numerics core's scheme for a case (the pass's defaults otherwise).
quant::Scheme schemeOf(const Case &c, int64_t injected) {
  quant::Scheme scheme;
  scheme.groupSize = c.groupSize;
  scheme.outliers.valueType = c.valueType;
  if (c.selection == Selection::Fraction)
    scheme.outliers.fraction = static_cast<double>(injected) / (c.n * c.k);
  else
    scheme.outliers.threshold = c.threshold;
  return scheme;
}

/// r2q-quantize-linear with the case's outlier options, then the CPU
/// pipeline.
std::string pipelineOf(const Case &c, const quant::Scheme &scheme) {
  std::string selection =
      c.selection == Selection::Fraction
          ? llvm::formatv("outliers={0:e12}", scheme.outliers.fraction).str()
          : llvm::formatv("outlier-threshold={0}", c.threshold).str();
  return llvm::formatv(
             "r2q-quantize-linear{{group-size={0} {1} "
             "outlier-type={2}},r2q-cpu-pipeline{{vector-gemv={3} "
             "lut-gemv={4}}",
             c.groupSize, selection, quant::floatTypeName(c.valueType),
             c.vectorGemv ? "true" : "false", c.lutGemv ? "true" : "false")
      .str();
}

/// An N x K weight of spread 0.02 with large weights (5 to 7 in magnitude,
/// either sign) injected: none in rows 0, 3, 6, ..., one in rows 1, 4, ...,
/// one per group in rows 2, 5, ... Returns how many were injected.
int64_t injectLargeWeights(const Case &c, std::mt19937 &generator,
                           std::vector<float> &weight) {
  std::uniform_real_distribution<float> magnitude(5.0f, 7.0f);
  std::bernoulli_distribution negative(0.5);
  int64_t groups = quant::groupsPerRow(c.k, c.groupSize);
  int64_t injected = 0;
  auto inject = [&](int64_t row, int64_t first, int64_t length) {
    int64_t col = first + std::uniform_int_distribution<int64_t>(0, length - 1)(
                              generator);
    float value = magnitude(generator);
    weight[row * c.k + col] = negative(generator) ? -value : value;
    ++injected;
  };
  for (int64_t row = 0; row < c.n; ++row) {
    if (row % 3 == 1)
      inject(row, 0, c.k);
    for (int64_t g = 0; row % 3 == 2 && g < groups; ++g)
      inject(row, g * c.groupSize, quant::groupLength(c.k, c.groupSize, g));
  }
  return injected;
}

/// The groups of a row in which one large weight among small ones is an
/// outlier to the case's selection. Above t times the RMS of a group of L
/// weights, one weight v with the others near 0 (RMS ~ v / sqrt(L)) needs
/// sqrt(L) > t: a short last group can hide it from outlier-threshold=.
int64_t visibleGroups(const Case &c) {
  int64_t groups = quant::groupsPerRow(c.k, c.groupSize), visible = 0;
  for (int64_t g = 0; g < groups; ++g)
    visible += c.selection == Selection::Fraction ||
               quant::groupLength(c.k, c.groupSize, g) >
                   1.2 * c.threshold * c.threshold;
  return visible;
}

/// Runs the compiled layer on an M x K input.
std::vector<float> runLayer(JitModule &compiled, const Case &c,
                            const std::vector<float> &input) {
  HostTensor<float, 2> x({c.m, c.k});
  x.data() = input;
  test::GuardedBuffers xCopy;
  auto xDescriptor = xCopy.descriptor(x);
  StridedMemRefType<float, 2> result{};
  llvm::Error error = compiled.call("linear", &result, &xDescriptor);
  EXPECT_FALSE(static_cast<bool>(error)) << toString(std::move(error));
  if (error)
    return {};
  return HostTensor<float, 2>::adoptResult(result).data();
}

/// The relative error of `packed`'s dequantization against `weights`.
double reconstructionError(const quant::MatrixView &weights,
                           const quant::PackedWeight &packed) {
  std::vector<float> reconstruction(packed.rows * packed.cols);
  quant::dequantize(packed, reconstruction.data());
  return quant::measureError(weights, reconstruction.data()).relativeError();
}

class OutlierExecutionTest : public ::testing::TestWithParam<Case> {
protected:
  OutlierExecutionTest() { context.appendDialectRegistry(test::jitRegistry()); }
  mlir::MLIRContext context;
};

TEST_P(OutlierExecutionTest, DenseAndSparseProductMatchesNumericsCore) {
  const Case c = GetParam();
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  std::mt19937 generator(seed);
  std::vector<float> weight = test::gaussian(c.n * c.k, generator, 0.02f);
  int64_t injected = injectLargeWeights(c, generator, weight);
  std::vector<float> input = test::gaussian(c.m * c.k, generator);

  quant::Scheme scheme = schemeOf(c, injected);
  quant::MatrixView floatWeight =
      quant::MatrixView::ofFloats(weight.data(), c.n, c.k);
  quant::PackedWeight packed;
  ASSERT_TRUE(quant::quantize(floatWeight, scheme, packed).ok());
  // The data has what the test is about: rows without outliers and rows
  // with one in every group (that the selection can see). (A threshold may
  // also catch the tail of a small group of Gaussian weights.)
  ASSERT_FALSE(packed.outliers.empty());
  const auto &offsets = packed.outliers.rowOffsets;
  if (c.selection == Selection::Fraction) {
    ASSERT_EQ(packed.outliers.count(), injected);
    EXPECT_EQ(offsets[1] - offsets[0], 0);
  }
  if (c.n > 2)
    EXPECT_GE(offsets[3] - offsets[2], visibleGroups(c));

  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(layerSource(c, weight), &context);
  ASSERT_TRUE(module);
  auto compiled = test::compileChecked(*module, pipelineOf(c, scheme));
  ASSERT_TRUE(static_cast<bool>(compiled)) << toString(compiled.takeError());
  std::vector<float> output = runLayer(**compiled, c, input);

  std::vector<double> expected(c.m * c.n);
  quant::referenceMatmul(input.data(), c.m, packed, expected.data());
  test::expectWithinProductTolerance(
      c.m, c.n, c.k, input, output, expected,
      [&](int64_t n, int64_t k) { return packed.value(n, k); });

  // The compiled module carries the planes, scales and outliers, counted
  // byte for byte by PackedWeight::storageBytes (bitsPerWeight is honest).
  EXPECT_EQ(countConstantBytes(*module), packed.storageBytes());

  // Kept exactly, the large weights no longer dominate the error: the
  // weight the layer computes with is closer to the float weight than plain
  // R2Q's, by far when every large weight is kept.
  quant::Scheme plainScheme = scheme;
  plainScheme.outliers = {};
  quant::PackedWeight plain;
  ASSERT_TRUE(quant::quantize(floatWeight, plainScheme, plain).ok());
  bool keepsAll = visibleGroups(c) == quant::groupsPerRow(c.k, c.groupSize);
  EXPECT_LT(reconstructionError(floatWeight, packed),
            (keepsAll ? 0.5 : 1.0) * reconstructionError(floatWeight, plain));
}

using quant::FloatType;
INSTANTIATE_TEST_SUITE_P(
    RaggedShapes, OutlierExecutionTest,
    ::testing::Values(
        // Vector GEMV (M <= 2): K = 576 = 4.5 x 128 (SmolLM2), K = 100 =
        // 3 x 32 + 4, dynamic M (both strategies compiled, GEMV taken).
        Case{1, 37, 576, 128, false, Selection::Threshold, FloatType::F16,
             true},
        Case{1, 13, 100, 32, false, Selection::Fraction, FloatType::F32, true},
        Case{2, 40, 256, 64, false, Selection::Fraction, FloatType::F16, true},
        Case{1, 21, 576, 128, true, Selection::Fraction, FloatType::F32, true},
        // Fused decode (vector-gemv=false, M <= 2).
        Case{1, 29, 576, 128, false, Selection::Fraction, FloatType::F16,
             false},
        Case{2, 11, 100, 32, false, Selection::Threshold, FloatType::F32,
             false},
        // Tiled decode (M = 3, 17), dynamic M, K = 13 (not a multiple of 8).
        Case{3, 29, 576, 128, false, Selection::Fraction, FloatType::F32, true},
        Case{17, 24, 100, 32, true, Selection::Threshold, FloatType::F16, true},
        Case{17, 70, 256, 32, false, Selection::Fraction, FloatType::F16,
             false},
        Case{3, 7, 13, 8, false, Selection::Threshold, FloatType::F32, true,
             2.5},
        // Table-lookup GEMV (static M of 1-8), the sparse step after it.
        Case{1, 37, 576, 128, false, Selection::Threshold, FloatType::F16, true,
             4, true},
        Case{5, 13, 100, 32, false, Selection::Fraction, FloatType::F32, true,
             4, true},
        Case{8, 7, 13, 8, false, Selection::Threshold, FloatType::F16, true,
             2.5, true}));

/// A super weight: 6.0 in a row whose every other weight is zero, among rows
/// of spread 0.02. With f32 corrections it survives quantization exactly:
/// that row's output is x * W exactly (1e-5 relative), through every
/// lowering strategy.
class SuperWeightTest : public OutlierExecutionTest {};

TEST_P(SuperWeightTest, SurvivesExactly) {
  const Case c = GetParam();
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  std::mt19937 generator(seed);
  std::vector<float> weight = test::gaussian(c.n * c.k, generator, 0.02f);
  const int64_t superRow = c.n / 2;
  const int64_t superCol =
      std::uniform_int_distribution<int64_t>(0, c.k - 1)(generator);
  std::fill_n(weight.begin() + superRow * c.k, c.k, 0.0f);
  weight[superRow * c.k + superCol] = 6.0f;
  std::vector<float> input = test::gaussian(c.m * c.k, generator);

  quant::Scheme scheme = schemeOf(c, 1);
  auto compiled = test::compileChecked(context, layerSource(c, weight),
                                       pipelineOf(c, scheme));
  ASSERT_TRUE(static_cast<bool>(compiled)) << toString(compiled.takeError());
  std::vector<float> output = runLayer(**compiled, c, input);
  ASSERT_EQ(output.size(), static_cast<size_t>(c.m * c.n));
  for (int64_t row = 0; row < c.m; ++row) {
    double exact = 6.0 * input[row * c.k + superCol];
    EXPECT_NEAR(output[row * c.n + superRow], exact, 1e-5 * std::fabs(exact))
        << "activation row " << row;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Strategies, SuperWeightTest,
    ::testing::Values(
        Case{1, 9, 576, 128, false, Selection::Threshold, FloatType::F32, true},
        Case{2, 9, 100, 32, false, Selection::Fraction, FloatType::F32, false},
        Case{17, 9, 576, 128, true, Selection::Threshold, FloatType::F32, true},
        Case{4, 9, 576, 128, false, Selection::Threshold, FloatType::F32, true,
             4, true}));

} // namespace
