//===- OutlinedKernelTest.cpp - Layers sharing one outlined kernel --------===//
//
// A function of four float layers in Torch-MLIR form: a chain of three
// 64 x 64 layers (one kernel after r2q-outline-kernels) and a 40 x 64 layer
// (a second kernel), compiled with r2q-quantize-linear and r2q-cpu-pipeline.
// Each layer's output is compared with the numerics core applied to the
// layer's actual input, so every call of a shared kernel is checked with its
// own weights. Fresh random data; R2Q_TEST_SEED replays a failure.
//
//===----------------------------------------------------------------------===//

#include "ExecutionTestSupport.h"

#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

using namespace r2q;

namespace {

constexpr int64_t kK = 64, kGroupSize = 32;
/// Output features of the four layers: three chained square layers, then
/// one of another shape that reads the function's input.
constexpr int64_t kFeatures[] = {kK, kK, kK, 40};

/// `weight` (n x kK) as a dense f32 constant.
std::string constantWeight(const std::string &name,
                           const std::vector<float> &weight, int64_t n) {
  return llvm::formatv("  {0} = arith.constant dense<{1}> : "
                       "tensor<{2}x{3}xf32>\n",
                       name, test::hexLiteral(weight), n, kK)
      .str();
}

/// y = x * W^T as Torch-MLIR writes it, with a dynamic number of rows.
std::string linear(const std::string &y, const std::string &x,
                   const std::string &w, int64_t n) {
  return llvm::formatv(
             R"(  {0}_e = tensor.empty() : tensor<{3}x{2}xf32>
  {0}_t = linalg.transpose ins({1} : tensor<{2}x{3}xf32>) outs({0}_e : tensor<{3}x{2}xf32>) permutation = [1, 0]
  {0}_o = tensor.empty(%rows) : tensor<?x{2}xf32>
  {0}_z = linalg.fill ins(%zero : f32) outs({0}_o : tensor<?x{2}xf32>) -> tensor<?x{2}xf32>
  {0} = linalg.matmul ins({4}, {0}_t : tensor<?x{3}xf32>, tensor<{3}x{2}xf32>) outs({0}_z : tensor<?x{2}xf32>) -> tensor<?x{2}xf32>
)",
             y, w, n, kK, x)
      .str();
}

/// @layers(x) -> (y0, y1, y2, v): y0 = x W0^T, y1 = y0 W1^T, y2 = y1 W2^T,
/// v = x W3^T.
std::string layersSource(const std::vector<std::vector<float>> &weights) {
  std::string body;
  const char *inputs[] = {"%x", "%y0", "%y1", "%x"};
  const char *outputs[] = {"%y0", "%y1", "%y2", "%v"};
  for (size_t layer = 0; layer < weights.size(); ++layer) {
    std::string w = "%w" + std::to_string(layer);
    body += constantWeight(w, weights[layer], kFeatures[layer]);
    body += linear(outputs[layer], inputs[layer], w, kFeatures[layer]);
  }
  return llvm::formatv(R"(
func.func @layers(%x: tensor<?x{0}xf32>) -> (tensor<?x{0}xf32>, tensor<?x{0}xf32>, tensor<?x{0}xf32>, tensor<?x{1}xf32>) {{
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %rows = tensor.dim %x, %c0 : tensor<?x{0}xf32>
{2}  return %y0, %y1, %y2, %v : tensor<?x{0}xf32>, tensor<?x{0}xf32>, tensor<?x{0}xf32>, tensor<?x{1}xf32>
})",
                       kK, kFeatures[3], body)
      .str();
}

/// The kernel functions of a lowered module and the calls of them.
std::pair<int, int> countKernelsAndCalls(mlir::ModuleOp module) {
  int kernels = 0, calls = 0;
  module.walk([&](mlir::LLVM::LLVMFuncOp function) {
    if (function.getSymName().starts_with("r2q_matmul_"))
      ++kernels;
  });
  module.walk([&](mlir::LLVM::CallOp call) {
    auto callee = call.getCallee();
    if (callee && callee->starts_with("r2q_matmul_"))
      ++calls;
  });
  return {kernels, calls};
}

class OutlinedKernelTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(OutlinedKernelTest, SharedKernelMatchesNumericsCoreForEveryLayer) {
  const int64_t rows = GetParam();
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  std::mt19937 generator(seed);
  std::vector<std::vector<float>> weights;
  for (int64_t n : kFeatures)
    weights.push_back(test::gaussian(n * kK, generator, 0.1f));
  std::vector<float> input = test::gaussian(rows * kK, generator);

  mlir::MLIRContext context(test::jitRegistry());
  auto module =
      mlir::parseSourceString<mlir::ModuleOp>(layersSource(weights), &context);
  ASSERT_TRUE(module);
  auto compiled = test::compileChecked(
      *module, llvm::formatv("r2q-quantize-linear{{group-size={0}},"
                             "r2q-cpu-pipeline",
                             kGroupSize)
                   .str());
  ASSERT_TRUE(static_cast<bool>(compiled)) << toString(compiled.takeError());
  EXPECT_EQ(countKernelsAndCalls(*module), std::make_pair(2, 4));

  HostTensor<float, 2> x({rows, kK});
  x.data() = input;
  test::GuardedBuffers xCopy;
  auto xDescriptor = xCopy.descriptor(x);
  StridedMemRefType<float, 2> results[4] = {};
  llvm::Error error = (*compiled)->call("layers", &results, &xDescriptor);
  ASSERT_FALSE(static_cast<bool>(error)) << toString(std::move(error));
  std::vector<std::vector<float>> outputs;
  for (StridedMemRefType<float, 2> &result : results)
    outputs.push_back(HostTensor<float, 2>::adoptResult(result).data());

  const std::vector<float> *layerInputs[] = {&input, &outputs[0], &outputs[1],
                                             &input};
  quant::Scheme scheme;
  scheme.groupSize = kGroupSize;
  for (size_t layer = 0; layer < weights.size(); ++layer) {
    SCOPED_TRACE("layer " + std::to_string(layer));
    const int64_t n = kFeatures[layer];
    quant::PackedWeight packed;
    ASSERT_TRUE(quant::quantize(
                    quant::MatrixView::ofFloats(weights[layer].data(), n, kK),
                    scheme, packed)
                    .ok());
    std::vector<double> expected(rows * n);
    quant::referenceMatmul(layerInputs[layer]->data(), rows, packed,
                           expected.data());
    test::expectWithinProductTolerance(
        rows, n, kK, *layerInputs[layer], outputs[layer], expected,
        [&](int64_t row, int64_t col) { return packed.value(row, col); });
  }
}

// One row takes the vector GEMV inside the kernels, 3 and 17 the decoding
// of tiles: both branches of the dynamic-batch kernel run.
INSTANTIATE_TEST_SUITE_P(Rows, OutlinedKernelTest, ::testing::Values(1, 3, 17));

} // namespace
