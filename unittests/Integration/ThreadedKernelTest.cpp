//===- ThreadedKernelTest.cpp - Every kernel strategy on 1 to 3 threads ---===//
//
// r2q.matmul with its kernel written in the IR (#r2q.kernel: each strategy,
// 8-feature units (16 for lut_gemv, its block), 1, 2 and 3 threads), compiled
// by r2q-cpu-pipeline (the threads through OpenMP) and run with the JIT on
// weights packed by the numerics core. Ragged shapes (N not a multiple of the
// unit or of the thread count, K not a multiple of the group size or of 8) and
// odd batches, static and dynamic (the choice by rows at run time). Each output
// must equal quant::referenceMatmul to 1e-5 of sum_k |x_k w_k|, and every
// thread count must give the same bits as one thread. Fresh random data per
// test; R2Q_TEST_SEED replays a failure.
//
//===----------------------------------------------------------------------===//

#include "ExecutionTestSupport.h"

#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/TargetParser/Host.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

using namespace r2q;

namespace {

struct Case {
  const char *strategy;
  int64_t rows, n, k, groupSize;
  /// The input's rows dynamic: the kernel chooses `strategy` for at most 2
  /// rows and tiled_decode otherwise, at run time.
  bool dynamicRows = false;
};

std::ostream &operator<<(std::ostream &os, const Case &c) {
  return os << c.strategy << ", M " << c.rows
            << (c.dynamicRows ? " (dynamic)" : "") << ", N " << c.n << ", K "
            << c.k << ", G " << c.groupSize;
}

/// @linear(x, signs, scales) with the case's kernel on `threads` threads.
std::string source(const Case &c, int threads) {
  std::string rows = c.dynamicRows ? "?" : std::to_string(c.rows);
  std::string choice =
      c.dynamicRows ? ", max_rows = 2, otherwise = tiled_decode" : "";
  return llvm::formatv(R"(
func.func @linear(%x: tensor<{0}x{1}xf32>, %s: tensor<2x{2}x{3}xi8>, %a: tensor<2x{2}x{4}xf16>) -> tensor<{0}x{2}xf32> {{
  %y = r2q.matmul %x, %s, %a group_size {5} {{kernel = #r2q.kernel<strategy = {6}{7}, tile_rows = 8, threads = {8}>}
      : tensor<{0}x{1}xf32>, tensor<2x{2}x{3}xi8>, tensor<2x{2}x{4}xf16> -> tensor<{0}x{2}xf32>
  return %y : tensor<{0}x{2}xf32>
})",
                       rows, c.k, c.n, quant::packedBytesPerRow(c.k),
                       quant::groupsPerRow(c.k, c.groupSize), c.groupSize,
                       c.strategy, choice, threads)
      .str();
}

class ThreadedKernelTest : public ::testing::TestWithParam<Case> {
protected:
  ThreadedKernelTest() { context.appendDialectRegistry(test::jitRegistry()); }

  std::vector<float> run(const Case &c, int threads,
                         const quant::PackedWeight &weight,
                         const std::vector<float> &input) {
    auto compiled =
        test::compileChecked(context, source(c, threads), "r2q-cpu-pipeline");
    EXPECT_TRUE(static_cast<bool>(compiled)) << toString(compiled.takeError());
    if (!compiled)
      return {};
    HostTensor<float, 2> x({c.rows, c.k});
    x.data() = input;
    HostTensor<uint8_t, 3> signs({2, c.n, quant::packedBytesPerRow(c.k)});
    signs.data() = weight.signs;
    HostTensor<uint8_t, 3> scales(
        {2, c.n, 2 * quant::groupsPerRow(c.k, c.groupSize)});
    scales.data() = weight.encodedScales();
    test::GuardedBuffers inputs;
    auto xd = inputs.descriptor(x);
    auto sd = inputs.descriptor(signs);
    auto ad = inputs.descriptor(scales);
    StridedMemRefType<float, 2> result{};
    llvm::Error error = (*compiled)->call("linear", &result, &xd, &sd, &ad);
    EXPECT_FALSE(static_cast<bool>(error)) << toString(std::move(error));
    if (error)
      return {};
    return HostTensor<float, 2>::adoptResult(result).data();
  }

  mlir::MLIRContext context;
};

TEST_P(ThreadedKernelTest, MatchesNumericsCoreOnEveryThreadCount) {
  const Case c = GetParam();
  if (llvm::StringRef(c.strategy) == "lut_gemv" &&
      !llvm::sys::getHostCPUFeatures().lookup("avx2"))
    GTEST_SKIP() << "lut_gemv (target avx2) needs a host with AVX2";
  const unsigned seed = test::freshSeed();
  SCOPED_TRACE("R2Q_TEST_SEED=" + std::to_string(seed));
  std::mt19937 generator(seed);
  std::vector<float> w = test::gaussian(c.n * c.k, generator, 0.05f);
  quant::Scheme scheme;
  scheme.groupSize = c.groupSize;
  quant::PackedWeight weight;
  quant::Status status = quant::quantize(
      quant::MatrixView::ofFloats(w.data(), c.n, c.k), scheme, weight);
  ASSERT_TRUE(status.ok()) << status.message();
  std::vector<float> input = test::gaussian(c.rows * c.k, generator);
  std::vector<double> expected(c.rows * c.n);
  quant::referenceMatmul(input.data(), c.rows, weight, expected.data());
  auto weightAt = [&](int64_t n, int64_t k) { return weight.value(n, k); };

  std::vector<float> single;
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE("threads = " + std::to_string(threads));
    std::vector<float> output = run(c, threads, weight, input);
    test::expectWithinProductTolerance(c.rows, c.n, c.k, input, output,
                                       expected, weightAt);
    if (threads == 1)
      single = output;
    else
      EXPECT_EQ(output, single) << "the result depends on the thread count";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Strategies, ThreadedKernelTest,
    ::testing::Values(
        // N = 37: five 8-feature units and a partial one, split 2 and 3 ways
        // unevenly; K = 100 = 3 x 32 + 4 (a short last group, a padded sign
        // byte); K = 576 = 4.5 x 128.
        Case{"vector_gemv", 1, 37, 100, 32},
        Case{"vector_gemv", 3, 37, 576, 128},
        Case{"fused_decode", 1, 37, 576, 128},
        Case{"fused_decode", 3, 21, 100, 32},
        Case{"tiled_decode", 17, 37, 100, 32},
        Case{"tiled_decode", 5, 45, 576, 128},
        // Fewer units (2) than threads (3): a part without features.
        Case{"tiled_decode", 3, 13, 256, 64},
        Case{"vector_gemv", 1, 13, 256, 64},
        // Dynamic batch: the few-rows strategy for 1 row, tiled decoding for
        // 17, both split across threads.
        Case{"vector_gemv", 1, 37, 576, 128, true},
        Case{"vector_gemv", 17, 37, 576, 128, true},
        Case{"fused_decode", 17, 29, 100, 32, true},
        // The table lookup (its default target, avx2): N = 37 is two
        // 16-feature blocks and a partial one; 13 a single partial block
        // (parts without features); odd batches.
        Case{"lut_gemv", 1, 37, 100, 32}, Case{"lut_gemv", 3, 45, 576, 128},
        Case{"lut_gemv", 7, 13, 256, 64}));

} // namespace
