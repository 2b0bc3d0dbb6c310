//===- VectorGemvTest.cpp - The vector GEMV of r2q.matmul vs the core -----===//
//
// r2q.matmul with one or two activation rows, lowered by r2q-cpu-pipeline
// to the vector GEMV on the sign bits (strategy vector_gemv: the pipeline's
// default for few rows with lut-gemv=false), run with the JIT on signs and
// scales packed by the numerics core: the output equals x * dequant(W)^T to
// 1e-5 of sum_k |x_k w_k| for every plane count, scale type, group size
// (powers of two and not), vector width, input type and rank, static and
// dynamic rows, and equals the portable linalg lowering (vector-gemv=false)
// to the same tolerance. The same for the table-lookup GEMV (lut_gemv) on
// static batches of 1 to 8 rows, chosen by r2q-select-cpu-kernels (forced
// and by default), for AVX-512 and AVX2 code (the latter compiled by the JIT
// for an AVX2-only CPU), on 1 to 3 threads; its fast mode within its
// documented bound; its row-interleaved layout of constant weights bit for
// bit equal to the canonical one. The int8 GEMM (int8_gemm) on batches of 3
// to 130 rows within its rounding bound. And the GPU kernels (warp_gemv,
// warp_lut_gemv) executed on the host: their loop nests over blocks, warps
// and lanes with the butterfly on a buffer, on ragged shapes and odd
// batches; the tensor-core GEMM (mma_gemm) likewise, within its f16
// rounding bound.
//
//===----------------------------------------------------------------------===//

#include "ExecutionTestSupport.h"

#include "r2q/InitAll.h"
#include "r2q/Quant/FloatFormats.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/TargetParser/Host.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>

using namespace r2q;
using quant::FloatType;

namespace {

struct GemvCase {
  /// Leading dimensions of the input: {} (a vector), {M} or {B, S}.
  std::vector<int64_t> leading;
  int64_t n, k, groupSize;
  int planes;
  FloatType scaleType;
  /// Element type of the input (the result is f32).
  FloatType inputType;
  int64_t vectorWidth;
  bool dynamicRows;
  /// Added to every activation: a large mean makes sum_k x_k large against
  /// the output, the hard case for the group-sum identity's rounding.
  float activationMean = 0.0f;
  /// Multiplies the weight before quantization: far from 1, its scales
  /// leave f16's range (mma_gemm's hard case).
  float weightScale = 1.0f;

  int64_t bytesPerRow() const { return quant::packedBytesPerRow(k); }
  int64_t groups() const { return quant::groupsPerRow(k, groupSize); }
  int64_t rows() const {
    int64_t rows = 1;
    for (int64_t size : leading)
      rows *= size;
    return rows;
  }
};

std::ostream &operator<<(std::ostream &os, const GemvCase &c) {
  os << "rank " << c.leading.size() + 1 << ", rows " << c.rows() << ", N "
     << c.n << ", K " << c.k << ", G " << c.groupSize << ", P " << c.planes
     << ", scales " << quant::floatTypeName(c.scaleType) << ", input "
     << quant::floatTypeName(c.inputType) << ", width " << c.vectorWidth;
  os << (c.dynamicRows ? ", dynamic rows" : "");
  return os << ", activation mean " << c.activationMean << ", weight scale "
            << c.weightScale;
}

std::string tensorType(const std::vector<int64_t> &leading, bool dynamic,
                       int64_t last, llvm::StringRef element) {
  std::string type = "tensor<";
  for (int64_t size : leading)
    type += (dynamic ? std::string("?") : std::to_string(size)) + "x";
  return type + std::to_string(last) + "x" + element.str() + ">";
}

/// A random weight quantized by the numerics core, and a random input
/// already rounded to the input type (as floats, for the reference).
struct GemvData {
  quant::PackedWeight weight;
  std::vector<float> input;
  std::vector<uint16_t> inputBits; // the input in f16/bf16

  GemvData(const GemvCase &c, unsigned seed) {
    std::mt19937 generator(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> w(c.n * c.k);
    for (float &value : w)
      value = c.weightScale * 0.05f * normal(generator);
    quant::Scheme scheme;
    scheme.groupSize = c.groupSize;
    scheme.planes = c.planes;
    scheme.scaleType = c.scaleType;
    quant::Status status = quant::quantize(
        quant::MatrixView::ofFloats(w.data(), c.n, c.k), scheme, weight);
    EXPECT_TRUE(status.ok()) << status.message();
    input.resize(c.rows() * c.k);
    for (float &value : input)
      value = quant::roundTo(c.inputType, c.activationMean + normal(generator));
    if (c.inputType == FloatType::F16)
      for (float value : input)
        inputBits.push_back(quant::floatToHalfBits(value));
    if (c.inputType == FloatType::BF16)
      for (float value : input)
        inputBits.push_back(quant::floatToBFloat16Bits(value));
  }
};

/// @gemv of `c`, its r2q.matmul with `kernel` (an #r2q.kernel) if given.
/// The weight is two arguments after x, or, with `constants`, two
/// arith.constant ops of its data.
std::string gemvSource(const GemvCase &c, llvm::StringRef kernel = "",
                       const GemvData *constants = nullptr) {
  std::string input = tensorType(c.leading, c.dynamicRows, c.k,
                                 quant::floatTypeName(c.inputType));
  std::string result = tensorType(c.leading, c.dynamicRows, c.n, "f32");
  std::string signs =
      llvm::formatv("tensor<{0}x{1}x{2}xi8>", c.planes, c.n, c.bytesPerRow());
  std::string scales =
      llvm::formatv("tensor<{0}x{1}x{2}x{3}>", c.planes, c.n, c.groups(),
                    quant::floatTypeName(c.scaleType));
  std::string arguments = "%x: " + input, weights;
  if (constants)
    weights = llvm::formatv(R"(
  %s = arith.constant dense<{0}> : {1}
  %a = arith.constant dense<{2}> : {3})",
                            test::hexLiteral(constants->weight.signs), signs,
                            test::hexLiteral(constants->weight.encodedScales()),
                            scales);
  else
    arguments += ", %s: " + signs + ", %a: " + scales;
  return llvm::formatv(R"(
func.func @gemv({0}) -> {3} {{{6}
  %y = r2q.matmul %x, %s, %a group_size {4} {5} : {1}, {2}, {7} -> {3}
  return %y : {3}
})",
                       arguments, input, signs, result, c.groupSize,
                       kernel.empty() ? "" : "{kernel = " + kernel.str() + "}",
                       weights, scales)
      .str();
}

/// Runs @gemv on `data` after `pipeline`, for a rank-`Rank` input, compiled
/// by the JIT for `target`; with `constantWeights`, the weight is compiled
/// into the module.
template <int Rank>
std::vector<float> runGemv(mlir::MLIRContext &context, const GemvCase &c,
                           const GemvData &data, llvm::StringRef pipeline,
                           llvm::StringRef kernel, const JitTarget &target,
                           bool constantWeights) {
  auto compiled = test::compileChecked(
      context, gemvSource(c, kernel, constantWeights ? &data : nullptr),
      pipeline, target);
  EXPECT_TRUE(static_cast<bool>(compiled)) << toString(compiled.takeError());
  if (!compiled)
    return {};
  std::array<int64_t, Rank> inputShape;
  for (int dim = 0; dim + 1 < Rank; ++dim)
    inputShape[dim] = c.leading[dim];
  inputShape[Rank - 1] = c.k;
  HostTensor<uint8_t, 3> signs({c.planes, c.n, c.bytesPerRow()});
  signs.data() = data.weight.signs;
  std::vector<uint8_t> scaleBytes = data.weight.encodedScales();
  HostTensor<uint8_t, 3> scales(
      {c.planes, c.n,
       c.groups() * static_cast<int64_t>(byteWidth(c.scaleType))});
  scales.data() = scaleBytes;
  test::GuardedBuffers inputs;
  auto signsDescriptor = inputs.descriptor(signs);
  auto scalesDescriptor = inputs.descriptor(scales);
  StridedMemRefType<float, Rank> result{};
  auto call = [&](auto *xDescriptor) {
    return constantWeights
               ? (*compiled)->call("gemv", &result, xDescriptor)
               : (*compiled)->call("gemv", &result, xDescriptor,
                                   &signsDescriptor, &scalesDescriptor);
  };
  llvm::Error error = llvm::Error::success();
  if (c.inputType == FloatType::F32) {
    HostTensor<float, Rank> x(inputShape);
    x.data() = data.input;
    auto xDescriptor = inputs.descriptor(x);
    error = call(&xDescriptor);
  } else {
    HostTensor<uint16_t, Rank> x(inputShape);
    x.data() = data.inputBits;
    auto xDescriptor = inputs.descriptor(x);
    error = call(&xDescriptor);
  }
  EXPECT_FALSE(static_cast<bool>(error)) << toString(std::move(error));
  if (error)
    return {};
  return HostTensor<float, Rank>::adoptResult(result).data();
}

/// Runs @gemv on `data` after `pipeline`, compiled by the JIT for `target`;
/// with `constantWeights`, the weight is compiled into the module.
std::vector<float> runGemv(mlir::MLIRContext &context, const GemvCase &c,
                           const GemvData &data, llvm::StringRef pipeline,
                           llvm::StringRef kernel = "",
                           const JitTarget &target = {},
                           bool constantWeights = false) {
  switch (c.leading.size()) {
  case 0:
    return runGemv<1>(context, c, data, pipeline, kernel, target,
                      constantWeights);
  case 1:
    return runGemv<2>(context, c, data, pipeline, kernel, target,
                      constantWeights);
  default:
    return runGemv<3>(context, c, data, pipeline, kernel, target,
                      constantWeights);
  }
}

/// A parameterized test with a context that the JIT can compile in.
template <typename Case> class JitTest : public ::testing::TestWithParam<Case> {
protected:
  JitTest() { context.appendDialectRegistry(test::jitRegistry()); }
  mlir::MLIRContext context;
};

class VectorGemvTest : public JitTest<GemvCase> {};

TEST_P(VectorGemvTest, MatchesNumericsCoreAndPortableLowering) {
  const GemvCase c = GetParam();
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  const GemvData data(c, seed);
  std::vector<float> vector = runGemv(
      context, c, data,
      llvm::formatv("r2q-cpu-pipeline{{vector-width={0} lut-gemv=false}",
                    c.vectorWidth)
          .str());
  std::vector<float> portable = runGemv(
      context, c, data, "r2q-cpu-pipeline{vector-gemv=false lut-gemv=false}");
  const int64_t rows = c.rows();
  std::vector<double> expected(rows * c.n);
  quant::referenceMatmul(data.input.data(), rows, data.weight, expected.data());
  auto weightAt = [&](int64_t n, int64_t k) { return data.weight.value(n, k); };
  test::expectWithinProductTolerance(rows, c.n, c.k, data.input, vector,
                                     expected, weightAt);
  test::expectWithinProductTolerance(rows, c.n, c.k, data.input, vector,
                                     portable, weightAt);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, VectorGemvTest,
    ::testing::Values(
        // Widths 8 to 64; group sizes that are powers of two and not (24
        // and 40 force 8-lane steps, 96 32-lane steps).
        GemvCase{
            {1}, 13, 256, 128, 2, FloatType::F16, FloatType::F32, 32, false},
        GemvCase{
            {2}, 33, 512, 64, 2, FloatType::F16, FloatType::F32, 64, false},
        GemvCase{{1}, 7, 96, 96, 3, FloatType::F32, FloatType::F32, 32, true},
        GemvCase{{2}, 9, 240, 24, 1, FloatType::BF16, FloatType::F32, 16, true},
        GemvCase{{1}, 1, 80, 40, 4, FloatType::F16, FloatType::F32, 8, false},
        GemvCase{
            {}, 21, 384, 128, 2, FloatType::F16, FloatType::F32, 16, false},
        GemvCase{
            {1, 2}, 17, 256, 32, 2, FloatType::F16, FloatType::F32, 32, true},
        GemvCase{
            {1}, 40, 1024, 128, 2, FloatType::F16, FloatType::BF16, 32, true},
        GemvCase{{2}, 5, 128, 16, 4, FloatType::F32, FloatType::F16, 16, false},
        GemvCase{
            {2, 1}, 3, 64, 8, 1, FloatType::BF16, FloatType::BF16, 32, false},
        // A shorter last group (G does not divide K): K = 576 = 4.5 x 128
        // (SmolLM2), K = 100 = 3 x 32 + 4, K = 13 = 8 + 5 (not a multiple of
        // 8, the last sign byte padded), K < G, and K = 1536 -> N = 576.
        GemvCase{
            {1}, 37, 576, 128, 2, FloatType::F16, FloatType::F32, 32, false},
        GemvCase{
            {2}, 6, 576, 128, 3, FloatType::F32, FloatType::BF16, 16, true},
        GemvCase{
            {1}, 11, 100, 32, 2, FloatType::F16, FloatType::F32, 32, false},
        GemvCase{{}, 5, 100, 32, 1, FloatType::BF16, FloatType::F32, 8, false},
        GemvCase{{1}, 9, 13, 8, 2, FloatType::F16, FloatType::F32, 32, false},
        GemvCase{{2}, 3, 13, 8, 4, FloatType::F32, FloatType::F16, 8, true},
        GemvCase{
            {1, 2}, 7, 40, 128, 2, FloatType::F16, FloatType::F32, 32, false},
        GemvCase{
            {1}, 576, 1536, 128, 2, FloatType::F16, FloatType::F32, 32, false},
        // Post-ReLU-like activations on Llama-sized K.
        GemvCase{{1},
                 9,
                 4096,
                 128,
                 2,
                 FloatType::F16,
                 FloatType::F32,
                 32,
                 false,
                 4.0f},
        GemvCase{{2},
                 5,
                 11008,
                 128,
                 2,
                 FloatType::F16,
                 FloatType::F32,
                 16,
                 true,
                 20.0f}));

// The table-lookup GEMV (strategy lut_gemv), exact mode: a static batch of
// 1 to 8 rows, for AVX-512 and AVX2 code (each where the host runs it), on 1
// to 3 threads, chosen by r2q-select-cpu-kernels (forced with
// strategy=lut_gemv, or its default choice), against the numerics core to
// the same 1e-5 of sum_k |x_k w_k|. The kernel the selection writes is
// checked, and so is the lowered module's permute, so a fallback to another
// strategy fails the test.
struct LutCase {
  GemvCase gemv;
  const char *target; // avx512 | avx2
  int threads;        // the pipeline's threads option
  bool forced;        // strategy=lut_gemv, or the default choice
};

std::ostream &operator<<(std::ostream &os, const LutCase &c) {
  return os << c.gemv << ", " << c.target << ", threads " << c.threads
            << (c.forced ? ", forced" : ", default choice");
}

/// The target features that make the selection pick `target`.
llvm::StringRef featuresOf(llvm::StringRef target) {
  return target == "avx2" ? "+avx2,+fma" : "+avx512f,+avx512bw,+avx2,+fma";
}

/// What the JIT compiles `target`'s code for: AVX2 code for an AVX2-only
/// CPU (no AVX-512 instruction even on an AVX-512 host), AVX-512 code for
/// the host.
JitTarget jitTargetOf(llvm::StringRef target) {
  return {target == "avx2" ? featuresOf(target).str() : ""};
}

/// The table lookups of each mode and target.
llvm::StringRef exactIntrinsic(llvm::StringRef target) {
  return target == "avx2" ? "llvm.x86.avx2.permps"
                          : "llvm.x86.avx512.permvar.sf.512";
}
llvm::StringRef fastIntrinsic(llvm::StringRef target) {
  return target == "avx2" ? "llvm.x86.avx2.pshuf.b"
                          : "llvm.x86.avx512.pshuf.b.512";
}

/// The threads the selection gives a layer: the option, but none with fewer
/// than 65536 weights or without a 16-feature block.
int expectedThreads(const LutCase &c) {
  int64_t byWork = std::max<int64_t>(1, c.gemv.n * c.gemv.k / 65536);
  int64_t byBlocks = (c.gemv.n + 15) / 16;
  return static_cast<int>(std::min<int64_t>({c.threads, byWork, byBlocks}));
}

/// The r2q-cpu-pipeline (or r2q-select-cpu-kernels) options of `c`.
std::string lutOptions(const LutCase &c, llvm::StringRef precision) {
  return llvm::formatv("{0}target-features={1} threads={2} precision={3}",
                       c.forced ? "strategy=lut_gemv " : "",
                       featuresOf(c.target), c.threads, precision)
      .str();
}

class LutGemvTest : public JitTest<LutCase> {
protected:
  /// Whether the host runs `c`'s code (skips the test otherwise).
  static bool hostRuns(const LutCase &c) {
    return llvm::sys::getHostCPUFeatures().lookup(
        llvm::StringRef(c.target) == "avx2" ? "avx2" : "avx512bw");
  }
};

/// The module `source` after `pipeline`, printed.
std::string lowerToText(mlir::MLIRContext &context, const std::string &source,
                        llvm::StringRef pipeline) {
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, &context);
  mlir::PassManager pm(&context);
  if (!module || mlir::failed(mlir::parsePassPipeline(pipeline, pm)) ||
      mlir::failed(pm.run(*module)))
    return "";
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return text;
}

/// Checks the kernel r2q-select-cpu-kernels gives `c` with `precision`, and
/// that the pipeline's module calls `intrinsic`.
void expectLutKernel(mlir::MLIRContext &context, const LutCase &c,
                     llvm::StringRef precision, llvm::StringRef intrinsic) {
  std::string options = lutOptions(c, precision);
  std::string selected = lowerToText(context, gemvSource(c.gemv),
                                     "r2q-select-cpu-kernels{" + options + "}");
  std::string kernel =
      llvm::formatv("strategy = lut_gemv, precision = {0}, target = {1}",
                    precision, c.target);
  EXPECT_TRUE(llvm::StringRef(selected).contains(kernel)) << selected;
  EXPECT_TRUE(llvm::StringRef(selected).contains(
      llvm::formatv("threads = {0}>", expectedThreads(c)).str()))
      << selected;
  EXPECT_TRUE(llvm::StringRef(lowerToText(context, gemvSource(c.gemv),
                                          "r2q-cpu-pipeline{" + options + "}"))
                  .contains(intrinsic));
}

TEST_P(LutGemvTest, ExactModeMatchesNumericsCore) {
  const LutCase c = GetParam();
  if (!hostRuns(c))
    GTEST_SKIP() << "the host does not run " << c.target;
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  const GemvData data(c.gemv, seed);
  expectLutKernel(context, c, "exact", exactIntrinsic(c.target));
  std::vector<float> output = runGemv(
      context, c.gemv, data, "r2q-cpu-pipeline{" + lutOptions(c, "exact") + "}",
      "", jitTargetOf(c.target));
  const int64_t rows = c.gemv.rows();
  std::vector<double> expected(rows * c.gemv.n);
  quant::referenceMatmul(data.input.data(), rows, data.weight, expected.data());
  test::expectWithinProductTolerance(
      rows, c.gemv.n, c.gemv.k, data.input, output, expected,
      [&](int64_t n, int64_t k) { return data.weight.value(n, k); });
}

/// Each shape for AVX-512 and AVX2 code with `threads(i)` threads (i: the
/// shape's index), forced and chosen by default in turn.
std::vector<LutCase> onBothTargets(const std::vector<GemvCase> &shapes,
                                   const std::function<int(size_t)> &threads) {
  std::vector<LutCase> cases;
  for (size_t i = 0; i < shapes.size(); ++i)
    for (const char *target : {"avx512", "avx2"}) {
      bool forced = (i + (llvm::StringRef(target) == "avx2")) % 2 == 0;
      cases.push_back({shapes[i], target, threads(i), forced});
    }
  return cases;
}

/// The shapes of the table-lookup tests, each for both targets: ragged N
/// (not a multiple of the 16-row block), K not a multiple of G, 8 or 4,
/// group sizes below, at and above the 128-column chunk, 1 to 4 planes,
/// batches 1 to 8 (odd ones too), f16/bf16 inputs, every scale type; 1, 2
/// and 3 threads (the last eight shapes are large enough to be split: at
/// least 65536 weights per thread), forced and chosen by default.
std::vector<LutCase> lutCases() {
  using F = FloatType;
  std::vector<GemvCase> shapes = {
      {{1}, 37, 576, 128, 2, F::F16, F::F32, 32, false},
      {{3}, 9, 100, 32, 2, F::F16, F::F32, 32, false},
      {{2}, 3, 13, 8, 4, F::F32, F::F16, 32, false},
      {{5}, 21, 1536, 256, 2, F::F16, F::F32, 32, false},
      {{7}, 16, 40, 128, 1, F::BF16, F::F32, 32, false},
      {{8}, 33, 512, 64, 3, F::F16, F::BF16, 32, false},
      {{2, 3}, 17, 384, 128, 2, F::BF16, F::F32, 32, false},
      {{}, 5, 1000, 16, 2, F::F32, F::F32, 32, false},
      {{4}, 48, 4096, 128, 2, F::F16, F::F32, 32, false, 4.0f},
      // Split across threads: 77 features are 5 blocks (the last partial),
      // 3 threads take 1, 2 and 2 of them.
      {{1}, 77, 2600, 128, 2, F::F16, F::F32, 32, false},
      {{3}, 77, 2600, 128, 2, F::F16, F::F32, 32, false},
      {{5}, 200, 1000, 32, 2, F::F16, F::F32, 32, false},
      {{8}, 50, 4000, 512, 2, F::F16, F::BF16, 32, false},
      // Several passes of 2048 columns in the packed layout: 4, 4, 4, 4
      // and 2 steps; six of 4 steps and one of 1 with groups of 1536
      // columns (passes of one group, not aligned with the signs'); groups
      // longer than a pass.
      {{1}, 40, 9000, 128, 2, F::F16, F::F32, 32, false},
      {{2}, 35, 12800, 1536, 2, F::BF16, F::F32, 32, false},
      {{1}, 20, 8704, 8192, 1, F::F32, F::F16, 32, false},
      // Groups smaller than a chunk over three passes (exact tables in
      // either mode; passes of 64 scale groups).
      {{3}, 24, 5000, 64, 2, F::F16, F::F32, 32, false},
  };
  const size_t firstSplit = shapes.size() - 8;
  return onBothTargets(shapes, [&](size_t i) {
    return i < firstSplit ? static_cast<int>(i % 3) + 1
                          : 2 + static_cast<int>(i % 2);
  });
}

/// Fast mode (int8 tables): each activation is rounded to a multiple of
/// s_b = (the largest sum of |x| over a quad of its 128-column block b) /
/// 125, so each output is within sum_k |w_k| * s_b(k) / 2 of the exact
/// product (f32 rounding aside): checked per output. That bound is loose (it
/// adds every rounding error with the same sign); the error actually behaves
/// like a sum of independent ones, and its RMS over all outputs, relative to
/// the RMS of the outputs, is checked against kFastRelativeRms.
constexpr double kFastRelativeRms = 0.04;

/// For kernels that round activations: checks every output of `output`
/// against the numerics core within sum_k |w_k| * step_k / 2 (plus 1e-5 of
/// sum_k |x_k w_k| for f32 rounding), where `columnSteps(x)` gives the
/// rounding step of each column of the activation row x; returns the RMS of
/// the error relative to the RMS of the outputs.
double expectWithinRoundingBound(
    const GemvCase &c, const GemvData &data, const std::vector<float> &output,
    const std::function<std::vector<double>(const float *)> &columnSteps) {
  const int64_t rows = c.rows(), n = c.n, k = c.k;
  EXPECT_EQ(output.size(), static_cast<size_t>(rows * n));
  if (output.size() != static_cast<size_t>(rows * n))
    return INFINITY;
  std::vector<double> expected(rows * n);
  quant::referenceMatmul(data.input.data(), rows, data.weight, expected.data());
  double errorSquares = 0, outputSquares = 0;
  for (int64_t row = 0; row < rows; ++row) {
    const float *x = data.input.data() + row * k;
    std::vector<double> step = columnSteps(x);
    for (int64_t col = 0; col < n; ++col) {
      double bound = 0, magnitude = 0;
      for (int64_t i = 0; i < k; ++i) {
        double w = std::fabs(data.weight.value(col, i));
        bound += w * step[i] / 2.0;
        magnitude += w * std::fabs(x[i]);
      }
      double error = output[row * n + col] - expected[row * n + col];
      // Negated, so that a NaN fails too.
      if (!(std::fabs(error) <= bound + 1e-5 * magnitude + 1e-30)) {
        ADD_FAILURE() << "error " << error << " past the bound " << bound
                      << " at row " << row << ", column " << col;
        return INFINITY;
      }
      errorSquares += error * error;
      outputSquares += expected[row * n + col] * expected[row * n + col];
    }
  }
  return std::sqrt(errorSquares / outputSquares);
}

/// Whether fast mode runs for `c`'s group size (1, 2 or 4k blocks of 128
/// columns); the others run in exact mode.
bool runsFast(const LutCase &c) {
  int64_t blocks = c.gemv.groupSize / 128;
  return c.gemv.groupSize % 128 == 0 && (blocks <= 2 || blocks % 4 == 0);
}

/// Checks fast mode's `output` against its bound per output and its RMS
/// error against kFastRelativeRms.
void expectWithinFastBound(const LutCase &c, const GemvData &data,
                           const std::vector<float> &output) {
  const int64_t k = c.gemv.k;
  auto steps = [k](const float *x) {
    std::vector<double> quadSums((k + 3) / 4, 0.0), blockSteps((k + 127) / 128);
    for (int64_t i = 0; i < k; ++i)
      quadSums[i / 4] += std::fabs(x[i]);
    for (size_t quad = 0; quad < quadSums.size(); ++quad)
      blockSteps[quad / 32] =
          std::max(blockSteps[quad / 32], quadSums[quad] / 125.0);
    std::vector<double> step(k);
    for (int64_t i = 0; i < k; ++i)
      step[i] = blockSteps[i / 128];
    return step;
  };
  EXPECT_LE(expectWithinRoundingBound(c.gemv, data, output, steps),
            kFastRelativeRms);
}

class LutFastTest : public LutGemvTest {};

TEST_P(LutFastTest, FastModeWithinItsBound) {
  const LutCase c = GetParam();
  if (!hostRuns(c))
    GTEST_SKIP() << "the host does not run " << c.target;
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  const GemvData data(c.gemv, seed);
  expectLutKernel(context, c, "fast",
                  runsFast(c) ? fastIntrinsic(c.target)
                              : exactIntrinsic(c.target));
  expectWithinFastBound(
      c, data,
      runGemv(context, c.gemv, data,
              "r2q-cpu-pipeline{" + lutOptions(c, "fast") + "}", "",
              jitTargetOf(c.target)));
}

// Constant weights, which r2q-pack-weights stores in lut_gemv's
// row-interleaved layout (docs/format.md): in exact and fast mode, the kernel
// reading that layout gives bit for bit the output of the kernel reading the
// canonical layout (pack-weights=false: the transpose in registers), which
// is checked against the numerics core (exact mode to 1e-5 of sum_k |x_k
// w_k|, fast mode within its bound), on the same ragged shapes, odd
// batches, targets and threads as above (packed whatever their padding:
// pack-max-padding=1000). The packed module is checked for the layout, so a
// silent fallback to the canonical one fails the test.
class LutPackedTest : public LutGemvTest {
protected:
  /// The output of @gemv with the weight as constants, packed or not.
  std::vector<float> run(const LutCase &c, const GemvData &data,
                         llvm::StringRef precision, bool packed) {
    std::string options =
        lutOptions(c, precision) +
        (packed ? " pack-max-padding=1000" : " pack-weights=false");
    return runGemv(context, c.gemv, data, "r2q-cpu-pipeline{" + options + "}",
                   "", jitTargetOf(c.target), /*constantWeights=*/true);
  }

  /// Whether r2q-pack-weights gives `c`'s constant weights the layout.
  bool packs(const LutCase &c, const GemvData &data,
             llvm::StringRef precision) {
    return llvm::StringRef(
               lowerToText(context, gemvSource(c.gemv, "", &data),
                           "r2q-select-cpu-kernels{" +
                               lutOptions(c, precision) +
                               "},r2q-pack-weights{max-padding=1000}"))
        .contains("layout = row_interleaved");
  }
};

TEST_P(LutPackedTest, PackedLayoutMatchesCanonicalAndNumericsCore) {
  const LutCase c = GetParam();
  if (!hostRuns(c))
    GTEST_SKIP() << "the host does not run " << c.target;
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  const GemvData data(c.gemv, seed);
  const int64_t rows = c.gemv.rows();
  std::vector<double> expected(rows * c.gemv.n);
  quant::referenceMatmul(data.input.data(), rows, data.weight, expected.data());
  // One mode per case, each shape in both (lutCases alternates `forced`
  // between a shape's two targets), to keep the compile time down.
  llvm::StringRef precision = c.forced ? "exact" : "fast";
  SCOPED_TRACE("precision " + precision.str());
  EXPECT_TRUE(packs(c, data, precision));
  std::vector<float> packed = run(c, data, precision, true);
  std::vector<float> canonical = run(c, data, precision, false);
  ASSERT_EQ(packed.size(), canonical.size());
  for (size_t i = 0; i < packed.size(); ++i)
    ASSERT_EQ(packed[i], canonical[i]) << "at output " << i;
  if (precision == "fast" && runsFast(c))
    expectWithinFastBound(c, data, packed);
  else
    test::expectWithinProductTolerance(
        rows, c.gemv.n, c.gemv.k, data.input, packed, expected,
        [&](int64_t n, int64_t k) { return data.weight.value(n, k); });
}

INSTANTIATE_TEST_SUITE_P(Shapes, LutFastTest, ::testing::ValuesIn(lutCases()));

INSTANTIATE_TEST_SUITE_P(Shapes, LutGemvTest, ::testing::ValuesIn(lutCases()));

INSTANTIATE_TEST_SUITE_P(Shapes, LutPackedTest,
                         ::testing::ValuesIn(lutCases()));

// The GPU kernel (strategy warp_gemv) as its host loop nest (r2q-cpu-pipeline
// with strategy=warp_gemv: the same lane body and index math as the
// gpu.launch of r2q-gpu-pipeline, the butterfly of shuffles run on a buffer)
// against the numerics core: ragged N (not a multiple of the rows of a
// block), K with a tail past the last 128-column chunk (and not a multiple
// of 8), group sizes whose segments are 32, 16 and 8 columns (72: chunks
// straddle groups), 1 to 4 planes, batches of 1 to 13
// rows (whole tiles of 8 and a shorter one), f16/bf16 inputs, every scale
// type, and tile_rows forced to 3; the same for the table-lookup kernel
// (warp_lut_gemv: tables in what is shared memory on the GPU, built by the
// block's 256 threads in turn, slice by slice).
struct WarpCase {
  GemvCase gemv;
  int64_t tileRows; // 0: derived from the batch
  const char *strategy = "warp_gemv";
};

std::ostream &operator<<(std::ostream &os, const WarpCase &c) {
  return os << c.gemv << ", tile_rows " << c.tileRows << ", " << c.strategy;
}

/// Runs a GPU strategy's host loop nest: r2q-select-cpu-kernels must
/// choose the forced strategy, and the pipeline computes with it.
class HostLoopNestTest : public JitTest<WarpCase> {
protected:
  std::vector<float> runLoopNest(const WarpCase &c, const GemvData &data) {
    std::string selected = lowerToText(
        context, gemvSource(c.gemv),
        llvm::formatv("r2q-select-cpu-kernels{{strategy={0}}", c.strategy)
            .str());
    EXPECT_TRUE(llvm::StringRef(selected).contains(
        llvm::formatv("strategy = {0},", c.strategy).str()))
        << selected;
    // A tile_rows other than the derived one is written on the op by hand,
    // as a user would; the pipeline keeps it.
    std::string kernel =
        c.tileRows ? llvm::formatv("#r2q.kernel<strategy = {1}, "
                                   "vector_width = 16, tile_rows = {0}, "
                                   "threads = 1>",
                                   c.tileRows, c.strategy)
                         .str()
                   : "";
    // byte_lut_gemv reads the row-interleaved layout that r2q-pack-weights
    // makes of a constant weight: ragged shapes are packed whatever their
    // padding.
    bool packed = llvm::StringRef(c.strategy) == "byte_lut_gemv";
    return runGemv(context, c.gemv, data,
                   llvm::formatv("r2q-cpu-pipeline{{strategy={0}{1}}",
                                 c.strategy,
                                 packed ? " pack-max-padding=1000" : "")
                       .str(),
                   kernel, {}, packed);
  }
};

class WarpGemvTest : public HostLoopNestTest {};

/// Checks `output` against the numerics core's product of `data` (f32
/// rounding of sum |x w|).
void expectMatchesNumericsCore(const GemvCase &c, const GemvData &data,
                               const std::vector<float> &output) {
  const int64_t rows = c.rows();
  std::vector<double> expected(rows * c.n);
  quant::referenceMatmul(data.input.data(), rows, data.weight, expected.data());
  test::expectWithinProductTolerance(
      rows, c.n, c.k, data.input, output, expected,
      [&](int64_t n, int64_t k) { return data.weight.value(n, k); });
}

TEST_P(WarpGemvTest, HostLoopNestMatchesNumericsCore) {
  const WarpCase c = GetParam();
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  const GemvData data(c.gemv, seed);
  expectMatchesNumericsCore(c.gemv, data, runLoopNest(c, data));
}

std::vector<WarpCase> warpCases() {
  using F = FloatType;
  return {
      {{{1}, 37, 576, 128, 2, F::F16, F::F32, 32, false}, 0},
      {{{1}, 16, 4096, 128, 2, F::F16, F::F32, 32, false, 4.0f}, 0},
      {{{3}, 9, 300, 32, 2, F::F16, F::F16, 32, false}, 0},
      {{{2}, 21, 13, 8, 4, F::F32, F::F32, 32, false}, 0},
      {{{5}, 17, 1000, 16, 3, F::BF16, F::BF16, 32, false}, 0},
      {{{13}, 11, 256, 64, 2, F::F16, F::F32, 32, false}, 0},
      {{{8}, 19, 520, 40, 1, F::F16, F::F32, 32, false}, 0},
      {{{2, 3}, 33, 384, 24, 2, F::F32, F::F32, 32, false}, 0},
      {{{}, 7, 250, 72, 2, F::F16, F::F32, 32, false}, 0},
      {{{4}, 29, 768, 256, 2, F::F16, F::F32, 32, false}, 3},
      {{{1}, 45, 1536, 128, 4, F::F16, F::F32, 32, false}, 3},
      // The table-lookup kernel: chunks of 8, 4 and 2 bytes (batch tiles of
      // 1, 2 and 3-4 rows), slices of 32 chunks with a partial last one, a
      // tail past the last whole chunk, segments of 64 down to 8 columns.
      {{{1}, 37, 576, 128, 2, F::F16, F::F32, 32, false}, 0, "warp_lut_gemv"},
      {{{1}, 70, 4100, 128, 2, F::F16, F::F32, 32, false, 4.0f},
       0,
       "warp_lut_gemv"},
      {{{2}, 33, 2200, 64, 3, F::F32, F::F16, 32, false}, 0, "warp_lut_gemv"},
      {{{3}, 9, 300, 32, 2, F::F16, F::BF16, 32, false}, 0, "warp_lut_gemv"},
      {{{4}, 21, 13, 8, 4, F::F32, F::F32, 32, false}, 0, "warp_lut_gemv"},
      {{{7}, 17, 1000, 16, 1, F::BF16, F::F32, 32, false}, 0, "warp_lut_gemv"},
      {{{2, 3}, 40, 520, 40, 2, F::F16, F::F32, 32, false}, 0, "warp_lut_gemv"},
      {{{1}, 45, 1536, 256, 2, F::F16, F::F32, 32, false}, 3, "warp_lut_gemv"},
      // The byte-table kernel on the row-interleaved layout: a partial last
      // block of 16 rows, K not a multiple of a step's 512 columns (nor of
      // 8) and a shorter last pass of steps (4100: 9 steps), group sizes of
      // 8 to 256 (40: groups straddle slices), 1 to 4 planes, batches of
      // 1 to 6 rows (one grid row each), 1 to 4 blocks of rows per warp
      // (64: two tiles of 32 blocks, the second mostly past N) and splits
      // of the columns with a shorter last one.
      {{{1}, 37, 576, 128, 2, F::F16, F::F32, 32, false}, 0, "byte_lut_gemv"},
      {{{1}, 70, 4100, 128, 2, F::F16, F::F32, 32, false, 4.0f},
       0,
       "byte_lut_gemv"},
      {{{2}, 33, 2200, 64, 3, F::F32, F::F16, 32, false}, 0, "byte_lut_gemv"},
      {{{3}, 9, 300, 32, 2, F::F16, F::BF16, 32, false}, 0, "byte_lut_gemv"},
      {{{1}, 21, 13, 8, 4, F::F32, F::F32, 32, false}, 0, "byte_lut_gemv"},
      {{{1}, 17, 1000, 16, 1, F::BF16, F::F32, 32, false}, 0, "byte_lut_gemv"},
      {{{2, 3}, 40, 520, 40, 2, F::F16, F::F32, 32, false}, 0, "byte_lut_gemv"},
      {{{1}, 45, 1536, 256, 2, F::F16, F::F32, 32, false}, 32, "byte_lut_gemv"},
      {{{1}, 600, 2048, 128, 2, F::F16, F::F16, 32, false},
       64,
       "byte_lut_gemv"},
      // K a multiple of a slice's 256 columns but not of a step's 512: the
      // last step's second half lies past K (its activations are zeros).
      {{{1}, 29, 768, 128, 2, F::F32, F::F16, 32, false}, 0, "byte_lut_gemv"},
      {{{2}, 19, 1280, 64, 2, F::F16, F::F32, 32, false}, 0, "byte_lut_gemv"},
  };
}

INSTANTIATE_TEST_SUITE_P(Shapes, WarpGemvTest,
                         ::testing::ValuesIn(warpCases()));

// The tensor-core GEMM (strategy mma_gemm) as its host loop nest
// (r2q-cpu-pipeline with strategy=mma_gemm: the row scaling kernel, then
// blocks of 4 warps whose 128 threads stage the activations and decode the
// weight into f16 tiles, each warp's ldmatrix loads and mma.sync products
// emulated on its lanes' registers by their fragment layout) against the
// numerics core, on batches of 16 to 130 rows (odd ones, and 20 and 33 past a
// block of 16 or 32 rows), N not a multiple of the 128 (or forced 64 or 192)
// features of a block, K not a multiple of the 64 columns of a step nor of 8
// and with a short last group (so K is split among 2 to 9 blocks, the last
// split shorter, or not at all), group sizes 8 to 256, 1 to 4 planes,
// f16/bf16/f32 inputs and scales, and scales and activations far outside f16's
// range. x and the decoded w are rounded to f16 once (after their rows' powers
// of two: exact), each with a relative error of at most 2^-11, plus a subnormal
// step of at most 2^-39 of the row's largest value: each output is within 2^-10
// (1 + 2^-9) sum_k |x_k w_k| + 2^-38 max|x| sum_k |w_k| of the exact product,
// plus the 1e-5 sum_k |x_k w_k| of f32 rounding. That bound is checked per
// output; the RMS of the error relative to that of the outputs against
// kMmaRelativeRms (measured: see docs/gpu.md).
constexpr double kMmaRelativeRms = 1e-3;

class MmaGemmTest : public HostLoopNestTest {};

TEST_P(MmaGemmTest, HostLoopNestWithinItsBound) {
  const WarpCase c = GetParam();
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  const GemvData data(c.gemv, seed);
  std::vector<float> output = runLoopNest(c, data);
  const int64_t k = c.gemv.k;
  // Twice the relative step of f16 (x and w are each rounded once), and
  // the subnormal step of the row's scaled activations.
  auto steps = [k](const float *x) {
    double largest = 0;
    for (int64_t i = 0; i < k; ++i)
      largest = std::max<double>(largest, std::fabs(x[i]));
    std::vector<double> step(k);
    for (int64_t i = 0; i < k; ++i)
      step[i] =
          std::ldexp(1.0, -9) * (1 + std::ldexp(1.0, -9)) * std::fabs(x[i]) +
          std::ldexp(largest, -37);
    return step;
  };
  double relativeRms = expectWithinRoundingBound(c.gemv, data, output, steps);
  RecordProperty("relative_rms", std::to_string(relativeRms));
  if (c.gemv.activationMean == 0)
    EXPECT_LE(relativeRms, kMmaRelativeRms);
}

std::vector<WarpCase> mmaCases() {
  using F = FloatType;
  auto mma = [](GemvCase c, int64_t tileRows = 0, float activationMean = 0,
                float weightScale = 1) {
    c.activationMean = activationMean;
    c.weightScale = weightScale;
    return WarpCase{c, tileRows, "mma_gemm"};
  };
  return {
      mma({{16}, 37, 576, 128, 2, F::F16, F::F16, 32, false}),
      mma({{17}, 200, 300, 32, 2, F::F16, F::F32, 32, false}),
      mma({{20}, 70, 1000, 8, 3, F::BF16, F::BF16, 32, false}),
      mma({{33}, 130, 520, 40, 1, F::F32, F::F16, 32, false}),
      mma({{2, 9}, 21, 13, 8, 4, F::F32, F::F32, 32, false}),
      mma({{47}, 64, 2200, 256, 2, F::F16, F::F32, 32, false}, 64),
      mma({{130}, 77, 640, 64, 2, F::F16, F::F16, 32, false}),
      mma({{31}, 193, 384, 24, 3, F::BF16, F::F32, 32, false}, 192),
      mma({{16}, 40, 700, 16, 4, F::F16, F::BF16, 32, false}, 0, 4.0f),
      // Outside f16's range, all made exact by the rows' powers of two:
      // activations around 1e5 (f32), weights of 5e5 (past 65504) and of
      // 5e-10 (below its smallest subnormal).
      mma({{19}, 45, 300, 32, 2, F::F32, F::F32, 32, false}, 0, 1e5f),
      mma({{21}, 45, 300, 32, 2, F::F32, F::F16, 32, false}, 0, 0, 1e7f),
      mma({{24}, 45, 300, 64, 3, F::F32, F::BF16, 32, false}, 0, 0, 1e-8f),
      // Activations around 1e35 with weights around 1e-35 (outputs around
      // 1): the rows' powers 2^-106 and 2^126 meet only in the output,
      // whose exponent is theirs added (product * 2^106 alone is past
      // f32's range).
      mma({{19}, 45, 300, 32, 2, F::F32, F::F32, 32, false}, 0, 3e38f, 1e-35f),
      // The table decode (1 to 4 planes, groups of whole 64-column steps
      // or of 16 or 32 columns: the G = 16, 32 and 64 cases above too, 3
      // and 4 planes among them) with one plane and a partial last step,
      // with 2 planes and weights past f16's range, with 2 and 4 groups a
      // step, and with two rows a thread.
      mma({{18}, 50, 1100, 128, 1, F::BF16, F::F32, 32, false}),
      mma({{21}, 45, 640, 64, 2, F::F32, F::F16, 32, false}, 0, 0, 1e7f),
      mma({{23}, 150, 720, 16, 2, F::F16, F::F16, 32, false}),
      mma({{17}, 70, 610, 32, 1, F::BF16, F::BF16, 32, false}, 64),
      mma({{40}, 33, 1024, 16, 1, F::F32, F::F32, 32, false}, 0, 0, 1e-8f),
      // Two table rows a thread (192 features a block), four groups a step.
      mma({{70}, 250, 384, 16, 2, F::F16, F::F32, 32, false}, 192),
      // Groups the table could take but no whole step (K = 50): every step
      // byte by byte.
      mma({{16}, 30, 50, 64, 2, F::F16, F::F16, 32, false}),
      // 3 planes (tables relative to plane 0, whose bit flips the pair)
      // with two groups a step and two rows a thread; 4 planes (two
      // tables, plane 3's bit choosing) with whole-step groups and a
      // partial last step.
      mma({{20}, 150, 520, 32, 3, F::F16, F::F32, 32, false}, 192),
      mma({{17}, 90, 1000, 128, 4, F::F32, F::F16, 32, false}),
  };
}

INSTANTIATE_TEST_SUITE_P(Shapes, MmaGemmTest, ::testing::ValuesIn(mmaCases()));

// wgmma_gemm: mma_gemm's tiles, stored swizzled, multiplied by the host
// form of wgmma.mma_async, which reads each operand where its descriptor
// and the 128-byte swizzle put it (a store in the unswizzled place, a wrong
// descriptor field or fragment layout fails these). The same bound. Blocks
// of 16, 32 and 64 rows (m64n16, n32, n64), 64, 128 and 192 features (1 to
// 3 products per 16 columns), split-K, both decodes (the tables with 1 to 4
// planes) and a partial step.
// Splits of 1 to 4 steps: the step loop runs pairs of steps (set 0, then
// set 1) and an odd count's last step after them; K = 800 (13 steps) is
// split 4 + 4 + 4 + 1, a split that is only that last step.
std::vector<WarpCase> wgmmaCases() {
  std::vector<WarpCase> cases;
  for (size_t i : {0, 1, 3, 5, 6, 7, 8, 11, 13, 14, 18}) {
    WarpCase c = mmaCases()[i];
    c.strategy = "wgmma_gemm";
    cases.push_back(c);
  }
  using F = FloatType;
  cases.push_back(WarpCase{
      {{16}, 40, 800, 32, 2, F::F16, F::F16, 32, false}, 0, "wgmma_gemm"});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Wgmma, MmaGemmTest, ::testing::ValuesIn(wgmmaCases()));

// A dynamic batch on the GPU kernels (r2q-bucket-rows, as r2q-gpu-pipeline
// runs it, then a GPU kernel's host loop nest on each static batch): rows
// padded to buckets of 2 and 4 (1 and 3 rows), or run in chunks of 4 past
// them (5 and 9 rows: a partial last chunk), for one and two dynamic
// leading dimensions, against the numerics core; an empty batch computes
// nothing.
class BucketRowsTest : public HostLoopNestTest {};

TEST_P(BucketRowsTest, DynamicBatchMatchesNumericsCore) {
  const WarpCase c = GetParam();
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  const GemvData data(c.gemv, seed);
  std::vector<float> output =
      runGemv(context, c.gemv, data,
              llvm::formatv("r2q-bucket-rows{{buckets=4,2},r2q-cpu-pipeline{{"
                            "strategy={0}}",
                            c.strategy)
                  .str());
  expectMatchesNumericsCore(c.gemv, data, output);
}

std::vector<WarpCase> bucketCases() {
  using F = FloatType;
  return {
      {{{1}, 37, 576, 128, 2, F::F16, F::F32, 32, true}, 0, "warp_lut_gemv"},
      {{{3}, 21, 300, 32, 2, F::F16, F::F16, 32, true}, 0, "warp_lut_gemv"},
      {{{5}, 40, 520, 40, 1, F::F32, F::F32, 32, true}, 0, "warp_gemv"},
      {{{0}, 40, 520, 40, 1, F::F32, F::F32, 32, true}, 0, "warp_lut_gemv"},
      {{{3, 3}, 33, 256, 64, 2, F::BF16, F::BF16, 32, true},
       0,
       "warp_lut_gemv"},
  };
}

INSTANTIATE_TEST_SUITE_P(Shapes, BucketRowsTest,
                         ::testing::ValuesIn(bucketCases()));

// The int8 GEMM (strategy int8_gemm: activations rounded to int8 per unit of
// min(G, 128) columns, byte dot products with the sign bits) on batches of 3
// to 130 rows, static and dynamic, chosen by r2q-select-cpu-kernels in fast
// precision (forced and by default) for AVX-512 VNNI and AVX2 code, on 1 to
// 3 threads: each activation moves by at most s_u / 2 with s_u = max |x| /
// 127 over its unit, so each output is within sum_k |w_k| * s_u(k) / 2 of
// the exact product (f32 rounding aside), checked per output; the RMS of the
// error relative to that of the outputs is checked against kInt8RelativeRms.
constexpr double kInt8RelativeRms = 0.02;

std::vector<LutCase> int8Cases() {
  using F = FloatType;
  std::vector<GemvCase> shapes = {
      {{9}, 37, 576, 128, 2, F::F16, F::F32, 32, false},
      {{16}, 33, 300, 32, 1, F::F32, F::F32, 32, false},
      {{17}, 5, 1000, 16, 3, F::F16, F::F16, 32, false},
      {{2, 9}, 40, 384, 256, 2, F::BF16, F::BF16, 32, false},
      {{10}, 20, 64, 8, 2, F::F16, F::F32, 32, false, 4.0f},
      {{13}, 48, 520, 64, 2, F::F16, F::F32, 32, true},
      {{3}, 19, 256, 128, 4, F::F16, F::F32, 32, true},
      // Split across threads: at least 65536 weights per thread.
      {{33}, 77, 2600, 128, 2, F::F16, F::F32, 32, false},
      {{130}, 64, 2048, 512, 2, F::F16, F::F32, 32, false},
  };
  return onBothTargets(shapes,
                       [](size_t i) { return static_cast<int>(i % 3) + 1; });
}

class Int8GemmTest : public JitTest<LutCase> {
protected:
  static bool hostRuns(const LutCase &c) {
    llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
    return llvm::StringRef(c.target) == "avx2"
               ? host.lookup("avx2")
               : host.lookup("avx512bw") && host.lookup("avx512vnni");
  }

  static std::string options(const LutCase &c) {
    llvm::StringRef features =
        llvm::StringRef(c.target) == "avx2"
            ? "+avx2,+fma"
            : "+avx512f,+avx512bw,+avx512vnni,+avx2,+fma";
    return llvm::formatv("{0}target-features={1} threads={2} precision=fast",
                         c.forced ? "strategy=int8_gemm " : "", features,
                         c.threads)
        .str();
  }
};

TEST_P(Int8GemmTest, WithinItsBound) {
  const LutCase c = GetParam();
  if (!hostRuns(c))
    GTEST_SKIP() << "the host does not run " << c.target;
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  const GemvData data(c.gemv, seed);
  // The kernel the selection writes (dynamic rows: chosen at run time past
  // two rows), and the dot products in the lowered module.
  std::string selected =
      lowerToText(context, gemvSource(c.gemv),
                  "r2q-select-cpu-kernels{" + options(c) + "}");
  EXPECT_TRUE(llvm::StringRef(selected).contains("int8_gemm")) << selected;
  EXPECT_TRUE(llvm::StringRef(selected).contains(
      llvm::formatv("target = {0}", c.target).str()))
      << selected;
  llvm::StringRef dot = llvm::StringRef(c.target) == "avx2"
                            ? "llvm.x86.avx2.pmadd.wd"
                            : "llvm.x86.avx512.vpdpbusd.512";
  EXPECT_TRUE(
      llvm::StringRef(lowerToText(context, gemvSource(c.gemv),
                                  "r2q-cpu-pipeline{" + options(c) + "}"))
          .contains(dot));
  std::vector<float> output =
      runGemv(context, c.gemv, data, "r2q-cpu-pipeline{" + options(c) + "}", "",
              jitTargetOf(c.target));
  const int64_t k = c.gemv.k;
  const int64_t unit = std::min<int64_t>(c.gemv.groupSize, 128);
  auto steps = [k, unit](const float *x) {
    std::vector<double> unitSteps((k + unit - 1) / unit, 0.0), step(k);
    for (int64_t i = 0; i < k; ++i)
      unitSteps[i / unit] =
          std::max<double>(unitSteps[i / unit], std::fabs(x[i]) / 127);
    for (int64_t i = 0; i < k; ++i)
      step[i] = unitSteps[i / unit];
    return step;
  };
  double relativeRms = expectWithinRoundingBound(c.gemv, data, output, steps);
  RecordProperty("relative_rms", std::to_string(relativeRms));
  EXPECT_LE(relativeRms, kInt8RelativeRms);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Int8GemmTest,
                         ::testing::ValuesIn(int8Cases()));

} // namespace
