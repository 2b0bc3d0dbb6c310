//===- LinearLayerExecutionTest.cpp - Compiled layers vs the core ---------===//
//
// Writes float linear layers the way Torch-MLIR does, runs
// r2q-quantize-linear and r2q-cpu-pipeline, executes the result with the JIT
// and compares it with the numerics core: x * dequant(quantize(W))^T to 1e-5
// (relative to sum_k |x_k w_k|), and with the float layer x * W^T to within
// the quantization error. Each test draws fresh random data; the seed is
// printed on failure and can be forced with R2Q_TEST_SEED.
//
//===----------------------------------------------------------------------===//

#include "r2q/InitAll.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>

using namespace r2q;

namespace {

unsigned freshSeed() {
  if (const char *forced = std::getenv("R2Q_TEST_SEED"))
    return static_cast<unsigned>(std::strtoul(forced, nullptr, 10));
  return std::random_device{}();
}

std::vector<float> gaussian(size_t count, std::mt19937 &generator,
                            float stddev = 1.0f) {
  std::normal_distribution<float> distribution(0.0f, stddev);
  std::vector<float> values(count);
  for (float &value : values)
    value = distribution(generator);
  return values;
}

/// `values` as the hex literal of a dense f32 attribute.
std::string hexLiteral(const std::vector<float> &values) {
  std::string hex = "\"0x";
  const auto *bytes = reinterpret_cast<const unsigned char *>(values.data());
  for (size_t i = 0; i < values.size() * sizeof(float); ++i)
    hex += llvm::formatv("{0:X-2}", bytes[i]).str();
  return hex + "\"";
}

/// How the float layer is written.
enum class Form {
  /// linalg.transpose of the N x K weight + linalg.matmul (Torch-MLIR).
  TransposeMatmul,
  /// linalg.matmul with indexing_maps reading the weight as N x K.
  MatmulIndexingMaps,
  /// linalg.batch_matmul of a B x M x K input with a broadcast weight.
  BatchMatmulBroadcast,
};

/// A function @linear(x) -> y computing x * W^T with W a constant.
std::string layerSource(Form form, int64_t batch, int64_t m, int64_t n,
                        int64_t k, bool dynamicRows,
                        const std::vector<float> &weight) {
  std::string rows = dynamicRows ? "?" : std::to_string(m);
  std::string constant =
      llvm::formatv("%w = arith.constant dense<{0}> : tensor<{1}x{2}xf32>\n"
                    "%zero = arith.constant 0.0 : f32\n",
                    hexLiteral(weight), n, k);
  std::string dims = dynamicRows ? "%c0 = arith.constant 0 : index\n"
                                   "%m = tensor.dim %x, %c0 : tensor<?x" +
                                       std::to_string(k) + "xf32>\n"
                                 : "";
  std::string emptyArgs = dynamicRows ? "(%m)" : "()";
  switch (form) {
  case Form::TransposeMatmul:
    return llvm::formatv(R"(
func.func @linear(%x: tensor<{0}x{3}xf32>) -> tensor<{0}x{2}xf32> {{
  {4}{5}
  %e = tensor.empty() : tensor<{3}x{2}xf32>
  %wt = linalg.transpose ins(%w : tensor<{2}x{3}xf32>) outs(%e : tensor<{3}x{2}xf32>) permutation = [1, 0]
  %o = tensor.empty{6} : tensor<{0}x{2}xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<{0}x{2}xf32>) -> tensor<{0}x{2}xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<{0}x{3}xf32>, tensor<{3}x{2}xf32>) outs(%acc : tensor<{0}x{2}xf32>) -> tensor<{0}x{2}xf32>
  return %y : tensor<{0}x{2}xf32>
})",
                         rows, m, n, k, constant, dims, emptyArgs)
        .str();
  case Form::MatmulIndexingMaps:
    return llvm::formatv(R"(
func.func @linear(%x: tensor<{0}x{3}xf32>) -> tensor<{0}x{2}xf32> {{
  {4}{5}
  %o = tensor.empty{6} : tensor<{0}x{2}xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<{0}x{2}xf32>) -> tensor<{0}x{2}xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<{0}x{3}xf32>, tensor<{2}x{3}xf32>) outs(%acc : tensor<{0}x{2}xf32>) -> tensor<{0}x{2}xf32>
  return %y : tensor<{0}x{2}xf32>
})",
                         rows, m, n, k, constant, dims, emptyArgs)
        .str();
  case Form::BatchMatmulBroadcast:
    return llvm::formatv(R"(
func.func @linear(%x: tensor<{0}x{1}x{3}xf32>) -> tensor<{0}x{1}x{2}xf32> {{
  {4}
  %e = tensor.empty() : tensor<{3}x{2}xf32>
  %wt = linalg.transpose ins(%w : tensor<{2}x{3}xf32>) outs(%e : tensor<{3}x{2}xf32>) permutation = [1, 0]
  %eb = tensor.empty() : tensor<{0}x{3}x{2}xf32>
  %wb = linalg.broadcast ins(%wt : tensor<{3}x{2}xf32>) outs(%eb : tensor<{0}x{3}x{2}xf32>) dimensions = [0]
  %o = tensor.empty() : tensor<{0}x{1}x{2}xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<{0}x{1}x{2}xf32>) -> tensor<{0}x{1}x{2}xf32>
  %y = linalg.batch_matmul ins(%x, %wb : tensor<{0}x{1}x{3}xf32>, tensor<{0}x{3}x{2}xf32>) outs(%acc : tensor<{0}x{1}x{2}xf32>) -> tensor<{0}x{1}x{2}xf32>
  return %y : tensor<{0}x{1}x{2}xf32>
})",
                         batch, m, n, k, constant)
        .str();
  }
  return "";
}

struct Shape {
  int64_t batch, m, n, k, groupSize;
  bool dynamicRows;
  Form form;
};

std::ostream &operator<<(std::ostream &os, const Shape &shape) {
  return os << "batch " << shape.batch << ", M " << shape.m << ", N " << shape.n
            << ", K " << shape.k << ", G " << shape.groupSize
            << (shape.dynamicRows ? ", dynamic M" : "") << ", form "
            << static_cast<int>(shape.form);
}

class LinearLayerExecutionTest : public ::testing::TestWithParam<Shape> {
protected:
  LinearLayerExecutionTest() {
    mlir::DialectRegistry registry;
    registerR2QAndUpstream(registry);
    registerJitTranslations(registry);
    context.appendDialectRegistry(registry);
  }
  mlir::MLIRContext context;
};

TEST_P(LinearLayerExecutionTest, MatchesNumericsCore) {
  const Shape shape = GetParam();
  const unsigned seed = freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  std::mt19937 generator(seed);
  const int64_t rows = shape.batch * shape.m;
  std::vector<float> weight = gaussian(shape.n * shape.k, generator, 0.05f);
  std::vector<float> input = gaussian(rows * shape.k, generator);

  std::string pipeline = llvm::formatv(
      "r2q-quantize-linear{{group-size={0}},r2q-cpu-pipeline", shape.groupSize);
  auto compiled =
      compileSource(context,
                    layerSource(shape.form, shape.batch, shape.m, shape.n,
                                shape.k, shape.dynamicRows, weight),
                    pipeline);
  ASSERT_TRUE(static_cast<bool>(compiled)) << toString(compiled.takeError());

  std::vector<float> output;
  if (shape.form == Form::BatchMatmulBroadcast) {
    HostTensor<float, 3> x({shape.batch, shape.m, shape.k});
    x.data() = input;
    auto xDescriptor = x.descriptor();
    StridedMemRefType<float, 3> result{};
    llvm::Error error = (*compiled)->call("linear", &result, &xDescriptor);
    ASSERT_FALSE(static_cast<bool>(error)) << toString(std::move(error));
    output = HostTensor<float, 3>::adoptResult(result).data();
  } else {
    HostTensor<float, 2> x({shape.m, shape.k});
    x.data() = input;
    auto xDescriptor = x.descriptor();
    StridedMemRefType<float, 2> result{};
    llvm::Error error = (*compiled)->call("linear", &result, &xDescriptor);
    ASSERT_FALSE(static_cast<bool>(error)) << toString(std::move(error));
    output = HostTensor<float, 2>::adoptResult(result).data();
  }
  ASSERT_EQ(output.size(), static_cast<size_t>(rows * shape.n));

  // The reference: the numerics core's quantization, in double.
  quant::Scheme scheme;
  scheme.groupSize = shape.groupSize;
  quant::PackedWeight packed;
  ASSERT_TRUE(quant::quantize(
                  quant::MatrixView::ofFloats(weight.data(), shape.n, shape.k),
                  scheme, packed)
                  .ok());
  std::vector<double> expected(rows * shape.n), exact(rows * shape.n);
  quant::referenceMatmul(input.data(), rows, packed, expected.data());
  quant::referenceMatmul(
      input.data(), rows,
      quant::MatrixView::ofFloats(weight.data(), shape.n, shape.k),
      exact.data());

  double errorSquared = 0, exactSquared = 0;
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t col = 0; col < shape.n; ++col) {
      double magnitude = 0;
      for (int64_t i = 0; i < shape.k; ++i)
        magnitude += std::fabs(input[row * shape.k + i] * packed.value(col, i));
      int64_t index = row * shape.n + col;
      ASSERT_NEAR(output[index], expected[index], 1e-5 * magnitude + 1e-30)
          << "at row " << row << ", column " << col;
      errorSquared += std::pow(output[index] - exact[index], 2);
      exactSquared += exact[index] * exact[index];
    }
  }

  // Against the float layer the error is the weights' quantization error.
  std::vector<float> reconstruction(shape.n * shape.k);
  quant::dequantize(packed, reconstruction.data());
  double weightError = quant::measureError(quant::MatrixView::ofFloats(
                                               weight.data(), shape.n, shape.k),
                                           reconstruction.data())
                           .relativeError();
  double outputError = std::sqrt(errorSquared / exactSquared);
  EXPECT_GT(outputError, 0.3 * weightError);
  EXPECT_LT(outputError, 3.0 * weightError);
}

INSTANTIATE_TEST_SUITE_P(
    RaggedShapes, LinearLayerExecutionTest,
    ::testing::Values(
        // Batch 1, 3 and 17; N not a multiple of 8; K = G and K = 8G.
        Shape{1, 1, 13, 128, 128, false, Form::TransposeMatmul},
        Shape{1, 3, 29, 1024, 128, false, Form::TransposeMatmul},
        Shape{1, 17, 70, 256, 32, false, Form::TransposeMatmul},
        Shape{1, 17, 9, 64, 8, true, Form::TransposeMatmul},
        Shape{1, 1, 33, 512, 64, true, Form::TransposeMatmul},
        Shape{1, 3, 5, 128, 16, false, Form::MatmulIndexingMaps},
        Shape{1, 17, 48, 256, 256, true, Form::MatmulIndexingMaps},
        Shape{3, 5, 11, 256, 32, false, Form::BatchMatmulBroadcast},
        Shape{2, 1, 19, 128, 128, false, Form::BatchMatmulBroadcast}));

} // namespace
