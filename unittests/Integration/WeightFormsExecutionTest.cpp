//===- WeightFormsExecutionTest.cpp - Derived weights vs the core ---------===//
//
// Layers whose weight is computed from constants (a slice of a fused matrix,
// a collapsed 3-D tensor, a scaled matrix, int8 and int4 weights with scales
// and zero points, f16 weights widened, an ml_program global, one weight
// shared by two layers) are quantized at compile time. Each is compiled with
// r2q-quantize-linear + r2q-cpu-pipeline, run through the JIT on fresh random
// data and compared with the numerics core applied to the weight the chain
// computes, written out here in plain C++. A wrong slice offset, zero point
// or rounding moves the quantized weight and fails the comparison.
//
//===----------------------------------------------------------------------===//

#include "ExecutionTestSupport.h"

#include "r2q/Quant/FloatFormats.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

using namespace r2q;

namespace {

constexpr int64_t kN = 12, kK = 64, kGroupSize = 32;

enum class Form {
  SliceAlongN,
  SliceAlongK,
  Collapsed3D,
  DividedByRowScale,
  Int8WithZeroPoint,
  Int4TensorOps,
  F16Widened,
  MLProgramGlobal,
  SharedByTwoLayers,
};

const char *formName(Form form) {
  switch (form) {
  case Form::SliceAlongN:
    return "SliceAlongN";
  case Form::SliceAlongK:
    return "SliceAlongK";
  case Form::Collapsed3D:
    return "Collapsed3D";
  case Form::DividedByRowScale:
    return "DividedByRowScale";
  case Form::Int8WithZeroPoint:
    return "Int8WithZeroPoint";
  case Form::Int4TensorOps:
    return "Int4TensorOps";
  case Form::F16Widened:
    return "F16Widened";
  case Form::MLProgramGlobal:
    return "MLProgramGlobal";
  case Form::SharedByTwoLayers:
    return "SharedByTwoLayers";
  }
  return "";
}

/// `y = x * w^T` for an N x K weight value `%w` defined by `weightIR`, rows
/// of x given. SharedByTwoLayers applies the square weight twice.
std::string layerSource(int64_t rows, int64_t n, int64_t k,
                        const std::string &weightIR, const std::string &globals,
                        bool twice) {
  std::string second =
      twice ? llvm::formatv(R"(
  %y2 = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%y, %w : tensor<{0}x{1}xf32>, tensor<{1}x{1}xf32>) outs(%acc : tensor<{0}x{1}xf32>) -> tensor<{0}x{1}xf32>
  return %y2 : tensor<{0}x{1}xf32>)",
                            rows, n)
                  .str()
            : llvm::formatv("return %y : tensor<{0}x{1}xf32>", rows, n).str();
  return llvm::formatv(R"(
#x_map = affine_map<(m, n, k) -> (m, k)>
#w_map = affine_map<(m, n, k) -> (n, k)>
#y_map = affine_map<(m, n, k) -> (m, n)>
{0}
func.func @linear(%x: tensor<{1}x{3}xf32>) -> tensor<{1}x{2}xf32> {{
  %zero = arith.constant 0.0 : f32
{4}
  %o = tensor.empty() : tensor<{1}x{2}xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<{1}x{2}xf32>) -> tensor<{1}x{2}xf32>
  %y = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %w : tensor<{1}x{3}xf32>, tensor<{2}x{3}xf32>) outs(%acc : tensor<{1}x{2}xf32>) -> tensor<{1}x{2}xf32>
  {5}
})",
                       globals, rows, n, k, weightIR, second)
      .str();
}

/// The IR of one form and the N x K f32 weight it computes.
struct WeightForm {
  std::string weightIR;
  std::string globals;
  std::vector<float> weight;
  int64_t n = kN, k = kK;
};

WeightForm sliceAlongN(std::mt19937 &generator) {
  // A fused 3N x K matrix; the layer reads rows N..2N-1.
  std::vector<float> fused = test::gaussian(3 * kN * kK, generator, 0.05f);
  WeightForm form;
  form.weightIR = llvm::formatv(R"(
  %fused = arith.constant dense<{0}> : tensor<{1}x{2}xf32>
  %w = tensor.extract_slice %fused[{3}, 0] [{3}, {2}] [1, 1] : tensor<{1}x{2}xf32> to tensor<{3}x{2}xf32>)",
                                test::hexLiteral(fused), 3 * kN, kK, kN)
                      .str();
  form.weight.assign(fused.begin() + kN * kK, fused.begin() + 2 * kN * kK);
  return form;
}

WeightForm sliceAlongK(std::mt19937 &generator) {
  // An N x 3K matrix; the layer reads columns K..2K-1 (group-aligned).
  std::vector<float> wide = test::gaussian(kN * 3 * kK, generator, 0.05f);
  WeightForm form;
  form.weightIR = llvm::formatv(R"(
  %wide = arith.constant dense<{0}> : tensor<{1}x{2}xf32>
  %w = tensor.extract_slice %wide[0, {3}] [{1}, {3}] [1, 1] : tensor<{1}x{2}xf32> to tensor<{1}x{3}xf32>)",
                                test::hexLiteral(wide), kN, 3 * kK, kK)
                      .str();
  for (int64_t n = 0; n < kN; ++n)
    for (int64_t k = 0; k < kK; ++k)
      form.weight.push_back(wide[n * 3 * kK + kK + k]);
  return form;
}

WeightForm collapsed3D(std::mt19937 &generator) {
  // Heads x head_dim x K, collapsed to N x K.
  std::vector<float> heads = test::gaussian(kN * kK, generator, 0.05f);
  WeightForm form;
  form.weightIR = llvm::formatv(R"(
  %heads = arith.constant dense<{0}> : tensor<3x{1}x{2}xf32>
  %w = tensor.collapse_shape %heads [[0, 1], [2]] : tensor<3x{1}x{2}xf32> into tensor<{3}x{2}xf32>)",
                                test::hexLiteral(heads), kN / 3, kK, kN)
                      .str();
  form.weight = heads;
  return form;
}

WeightForm dividedByRowScale(std::mt19937 &generator) {
  std::vector<float> raw = test::gaussian(kN * kK, generator, 2.0f);
  std::vector<float> scale = test::gaussian(kN, generator, 10.0f);
  WeightForm form;
  form.weightIR =
      llvm::formatv(R"(
  %raw = arith.constant dense<{0}> : tensor<{2}x{3}xf32>
  %scale = arith.constant dense<{1}> : tensor<{2}xf32>
  %e = tensor.empty() : tensor<{2}x{3}xf32>
  %w = linalg.generic {{indexing_maps = [affine_map<(n, k) -> (n, k)>, affine_map<(n, k) -> (n)>, affine_map<(n, k) -> (n, k)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%raw, %scale : tensor<{2}x{3}xf32>, tensor<{2}xf32>) outs(%e : tensor<{2}x{3}xf32>) {{
  ^bb0(%v: f32, %s: f32, %out: f32):
    %d = arith.divf %v, %s : f32
    linalg.yield %d : f32
  } -> tensor<{2}x{3}xf32>)",
                    test::hexLiteral(raw), test::hexLiteral(scale), kN, kK)
          .str();
  for (int64_t n = 0; n < kN; ++n)
    for (int64_t k = 0; k < kK; ++k)
      form.weight.push_back(raw[n * kK + k] / scale[n]);
  return form;
}

WeightForm int8WithZeroPoint(std::mt19937 &generator) {
  std::uniform_int_distribution<int> byte(-128, 127);
  std::vector<int8_t> q(kN * kK), zeroPoint(kN);
  for (int8_t &value : q)
    value = static_cast<int8_t>(byte(generator));
  for (int8_t &value : zeroPoint)
    value = static_cast<int8_t>(byte(generator) / 8);
  std::vector<float> scale = test::gaussian(kN, generator, 0.01f);
  WeightForm form;
  form.weightIR = llvm::formatv(R"(
  %q = arith.constant dense<{0}> : tensor<{3}x{4}xi8>
  %scale = arith.constant dense<{1}> : tensor<{3}xf32>
  %zp = arith.constant dense<{2}> : tensor<{3}xi8>
  %e = tensor.empty() : tensor<{3}x{4}xf32>
  %w = linalg.generic {{indexing_maps = [affine_map<(n, k) -> (n, k)>, affine_map<(n, k) -> (n)>, affine_map<(n, k) -> (n)>, affine_map<(n, k) -> (n, k)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%q, %scale, %zp : tensor<{3}x{4}xi8>, tensor<{3}xf32>, tensor<{3}xi8>) outs(%e : tensor<{3}x{4}xf32>) {{
  ^bb0(%qi: i8, %s: f32, %zi: i8, %out: f32):
    %wide = arith.extsi %qi : i8 to i32
    %zwide = arith.extsi %zi : i8 to i32
    %shifted = arith.subi %wide, %zwide : i32
    %f = arith.sitofp %shifted : i32 to f32
    %v = arith.mulf %f, %s : f32
    linalg.yield %v : f32
  } -> tensor<{3}x{4}xf32>)",
                                test::hexLiteral(q), test::hexLiteral(scale),
                                test::hexLiteral(zeroPoint), kN, kK)
                      .str();
  for (int64_t n = 0; n < kN; ++n)
    for (int64_t k = 0; k < kK; ++k)
      form.weight.push_back(
          static_cast<float>(int32_t{q[n * kK + k]} - int32_t{zeroPoint[n]}) *
          scale[n]);
  return form;
}

WeightForm int4TensorOps(std::mt19937 &generator) {
  // Unsigned 4-bit codes with zero point 8, as arith ops on tensors.
  std::uniform_int_distribution<int> nibble(0, 15);
  std::vector<int> codes(kN * kK);
  std::string literal;
  for (int64_t n = 0; n < kN; ++n) {
    literal += n ? ", [" : "[";
    for (int64_t k = 0; k < kK; ++k) {
      codes[n * kK + k] = nibble(generator);
      literal += (k ? ", " : "") + std::to_string(codes[n * kK + k]);
    }
    literal += "]";
  }
  float step = std::abs(test::gaussian(1, generator, 0.02f)[0]) + 1e-3f;
  WeightForm form;
  form.weightIR =
      llvm::formatv(R"(
  %q = arith.constant dense<[{0}]> : tensor<{2}x{3}xi4>
  %eight = arith.constant dense<8.0> : tensor<{2}x{3}xf32>
  %step = arith.constant dense<{1}> : tensor<{2}x{3}xf32>
  %u = arith.uitofp %q : tensor<{2}x{3}xi4> to tensor<{2}x{3}xf32>
  %centered = arith.subf %u, %eight : tensor<{2}x{3}xf32>
  %w = arith.mulf %centered, %step : tensor<{2}x{3}xf32>)",
                    literal, test::hexLiteral(std::vector<float>(1, step)), kN,
                    kK)
          .str();
  for (int code : codes)
    form.weight.push_back((static_cast<float>(code) - 8.0f) * step);
  return form;
}

WeightForm f16Widened(std::mt19937 &generator) {
  std::vector<float> values = test::gaussian(kN * kK, generator, 0.05f);
  std::vector<uint16_t> halves;
  for (float value : values)
    halves.push_back(quant::floatToHalfBits(value));
  WeightForm form;
  form.weightIR = llvm::formatv(R"(
  %h = arith.constant dense<{0}> : tensor<{1}x{2}xf16>
  %w = arith.extf %h : tensor<{1}x{2}xf16> to tensor<{1}x{2}xf32>)",
                                test::hexLiteral(halves), kN, kK)
                      .str();
  for (uint16_t half : halves)
    form.weight.push_back(quant::halfBitsToFloat(half));
  return form;
}

WeightForm mlProgramGlobal(std::mt19937 &generator) {
  WeightForm form;
  form.weight = test::gaussian(kN * kK, generator, 0.05f);
  form.globals = llvm::formatv("ml_program.global private @weight(dense<{0}> : "
                               "tensor<{1}x{2}xf32>) : tensor<{1}x{2}xf32>",
                               test::hexLiteral(form.weight), kN, kK)
                     .str();
  form.weightIR = llvm::formatv("  %w = ml_program.global_load_const @weight : "
                                "tensor<{0}x{1}xf32>",
                                kN, kK)
                      .str();
  return form;
}

WeightForm sharedByTwoLayers(std::mt19937 &generator) {
  // A square weight scaled by 0.5 in a generic, applied twice.
  constexpr int64_t size = 16;
  std::vector<float> raw = test::gaussian(size * size, generator, 0.5f);
  WeightForm form;
  form.n = form.k = size;
  form.weightIR = llvm::formatv(R"(
  %raw = arith.constant dense<{0}> : tensor<{1}x{1}xf32>
  %half = arith.constant 0.5 : f32
  %e = tensor.empty() : tensor<{1}x{1}xf32>
  %w = linalg.generic {{indexing_maps = [affine_map<(n, k) -> (n, k)>, affine_map<(n, k) -> (n, k)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%raw : tensor<{1}x{1}xf32>) outs(%e : tensor<{1}x{1}xf32>) {{
  ^bb0(%v: f32, %out: f32):
    %h = arith.mulf %v, %half : f32
    linalg.yield %h : f32
  } -> tensor<{1}x{1}xf32>)",
                                test::hexLiteral(raw), size)
                      .str();
  for (float value : raw)
    form.weight.push_back(value * 0.5f);
  return form;
}

WeightForm makeForm(Form form, std::mt19937 &generator) {
  switch (form) {
  case Form::SliceAlongN:
    return sliceAlongN(generator);
  case Form::SliceAlongK:
    return sliceAlongK(generator);
  case Form::Collapsed3D:
    return collapsed3D(generator);
  case Form::DividedByRowScale:
    return dividedByRowScale(generator);
  case Form::Int8WithZeroPoint:
    return int8WithZeroPoint(generator);
  case Form::Int4TensorOps:
    return int4TensorOps(generator);
  case Form::F16Widened:
    return f16Widened(generator);
  case Form::MLProgramGlobal:
    return mlProgramGlobal(generator);
  case Form::SharedByTwoLayers:
    return sharedByTwoLayers(generator);
  }
  return {};
}

struct Case {
  Form form;
  int64_t rows;
};

std::string caseName(const ::testing::TestParamInfo<Case> &info) {
  return std::string(formName(info.param.form)) + "_Rows" +
         std::to_string(info.param.rows);
}

class WeightFormsExecutionTest : public ::testing::TestWithParam<Case> {
protected:
  WeightFormsExecutionTest() {
    context.appendDialectRegistry(test::jitRegistry());
  }
  mlir::MLIRContext context;
};

TEST_P(WeightFormsExecutionTest, MatchesNumericsCoreOnTheComputedWeight) {
  const auto [formKind, rows] = GetParam();
  unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  std::mt19937 generator(seed);
  WeightForm form = makeForm(formKind, generator);
  bool twice = formKind == Form::SharedByTwoLayers;
  int64_t n = form.n, k = form.k;
  int64_t groupSize = std::min(k, kGroupSize);
  std::vector<float> input = test::gaussian(rows * k, generator);

  auto compiled = test::compileChecked(
      context, layerSource(rows, n, k, form.weightIR, form.globals, twice),
      llvm::formatv("r2q-quantize-linear{{group-size={0} scale-type=f32},"
                    "r2q-cpu-pipeline",
                    groupSize)
          .str());
  ASSERT_TRUE(static_cast<bool>(compiled)) << toString(compiled.takeError());
  HostTensor<float, 2> x({rows, k});
  x.data() = input;
  test::GuardedBuffers xCopy;
  auto xDescriptor = xCopy.descriptor(x);
  StridedMemRefType<float, 2> result{};
  llvm::Error error = (*compiled)->call("linear", &result, &xDescriptor);
  ASSERT_FALSE(static_cast<bool>(error)) << toString(std::move(error));
  std::vector<float> output = HostTensor<float, 2>::adoptResult(result).data();

  quant::Scheme scheme;
  scheme.groupSize = groupSize;
  scheme.scaleType = quant::FloatType::F32;
  quant::PackedWeight packed;
  ASSERT_TRUE(
      quant::quantize(quant::MatrixView::ofFloats(form.weight.data(), n, k),
                      scheme, packed)
          .ok());
  std::vector<double> expected(rows * n);
  quant::referenceMatmul(input.data(), rows, packed, expected.data());
  std::vector<float> layerInput = input;
  if (twice) {
    // The second layer reads the first one's output.
    layerInput.assign(expected.begin(), expected.end());
    quant::referenceMatmul(layerInput.data(), rows, packed, expected.data());
  }
  test::expectWithinProductTolerance(
      rows, n, k, layerInput, output, expected,
      [&](int64_t n, int64_t i) { return packed.value(n, i); });
}

INSTANTIATE_TEST_SUITE_P(
    DerivedWeights, WeightFormsExecutionTest,
    ::testing::Values(
        Case{Form::SliceAlongN, 1}, Case{Form::SliceAlongN, 3},
        Case{Form::SliceAlongK, 1}, Case{Form::SliceAlongK, 5},
        Case{Form::Collapsed3D, 3}, Case{Form::DividedByRowScale, 1},
        Case{Form::DividedByRowScale, 17}, Case{Form::Int8WithZeroPoint, 1},
        Case{Form::Int8WithZeroPoint, 3}, Case{Form::Int4TensorOps, 1},
        Case{Form::Int4TensorOps, 3}, Case{Form::F16Widened, 1},
        Case{Form::F16Widened, 3}, Case{Form::MLProgramGlobal, 3},
        Case{Form::SharedByTwoLayers, 1}, Case{Form::SharedByTwoLayers, 3}),
    caseName);

} // namespace
