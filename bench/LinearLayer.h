//===- LinearLayer.h - A linear layer to compile, and timing ---*- C++ -*-===//
//
// What the CPU benchmarks share: the source of a linear layer (the form
// Torch-MLIR emits), the error of an output against the numerics core,
// medians of runs timed in turn, lists of positive integers in their
// arguments, and running a pass pipeline or exiting.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_BENCH_LINEARLAYER_H
#define R2Q_BENCH_LINEARLAYER_H

#include "r2q/Runtime/Resources.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace r2q {

/// x * W^T. With `constantWeight`, in the form Torch-MLIR emits: W an N x K
/// dense_resource constant, transposed for the matmul. Otherwise the float
/// layer with its weight in memory, already K x N (what the float Torch-MLIR
/// layer becomes once r2q-prepare-cpu-loops folds the transpose).
/// `batch` > 0 makes the batch static (the table-lookup GEMV takes static
/// batches of 1-8 rows only); 0 leaves it dynamic.
inline std::string layerSource(int64_t n, int64_t k, bool constantWeight,
                               int64_t batch = 0) {
  std::string weight =
      constantWeight
          ? llvm::formatv(
                "%w = arith.constant dense_resource<weight> : "
                "tensor<{0}x{1}xf32>\n"
                "  %e = tensor.empty() : tensor<{1}x{0}xf32>\n"
                "  %wt = linalg.transpose ins(%w : tensor<{0}x{1}xf32>) "
                "outs(%e : tensor<{1}x{0}xf32>) permutation = [1, 0]",
                n, k)
                .str()
          : "";
  std::string signature =
      constantWeight ? std::string()
                     : llvm::formatv(", %wt: tensor<{0}x{1}xf32>", k, n).str();
  std::string rows = batch ? std::to_string(batch) : "?";
  std::string empty = batch ? "%o = tensor.empty()"
                            : "%c0 = arith.constant 0 : index\n"
                              "  %m = tensor.dim %x, %c0 : tensor<?x" +
                                  std::to_string(k) +
                                  "xf32>\n  %o = tensor.empty(%m)";
  return llvm::formatv(R"(
func.func @linear(%x: tensor<{4}x{1}xf32>{2}) -> tensor<{4}x{0}xf32> {{
  {3}
  %zero = arith.constant 0.0 : f32
  {5} : tensor<{4}x{0}xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<{4}x{0}xf32>) -> tensor<{4}x{0}xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<{4}x{1}xf32>, tensor<{1}x{0}xf32>) outs(%acc : tensor<{4}x{0}xf32>) -> tensor<{4}x{0}xf32>
  return %y : tensor<{4}x{0}xf32>
})",
                       n, k, signature, weight, rows, empty)
      .str();
}

/// The largest |r2q - core| over the largest |core| of a batch x n product.
inline double relativeError(const std::vector<float> &output,
                            const std::vector<double> &expected) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, std::fabs(output[i] - expected[i]));
    scale = std::max(scale, std::fabs(expected[i]));
  }
  return worst / scale;
}

/// Medians of each of `runs` timed round-robin `repetitions` times, after
/// one warm-up call each, so that all see the same load on a shared
/// machine.
inline std::vector<double>
interleavedMedians(const std::vector<std::function<void()>> &runs,
                   int repetitions) {
  auto seconds = [](const std::function<void()> &run) {
    auto start = std::chrono::steady_clock::now();
    run();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start)
        .count();
  };
  for (const auto &run : runs)
    run();
  std::vector<std::vector<double>> times(runs.size());
  for (int i = 0; i < repetitions; ++i)
    for (size_t r = 0; r < runs.size(); ++r)
      times[r].push_back(seconds(runs[r]));
  std::vector<double> medians;
  for (std::vector<double> &v : times) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    medians.push_back(v[v.size() / 2]);
  }
  return medians;
}

/// Prints "`program`: `message`" and exits with status 1.
[[noreturn]] inline void exitWithError(llvm::StringRef program,
                                       const llvm::Twine &message) {
  llvm::errs() << program << ": " << message << "\n";
  std::exit(1);
}

/// The positive integers of `list` split at `separator` ("1,4,16",
/// "4096x14336"); exits with an error naming `program` if a part is not one.
inline std::vector<int64_t> positiveIntegers(llvm::StringRef program,
                                             llvm::StringRef list,
                                             char separator) {
  llvm::SmallVector<llvm::StringRef> parts;
  list.split(parts, separator);
  std::vector<int64_t> values;
  for (llvm::StringRef part : parts) {
    int64_t value;
    if (part.getAsInteger(10, value) || value < 1)
      exitWithError(program,
                    "'" + list + "' is not a list of positive integers");
    values.push_back(value);
  }
  return values;
}

/// Runs the passes `pipeline` on `module`; exits with an error naming
/// `program` if they fail.
inline void runPipeline(llvm::StringRef program, mlir::ModuleOp module,
                        llvm::StringRef pipeline) {
  mlir::PassManager pm(module->getContext());
  if (mlir::failed(mlir::parsePassPipeline(pipeline, pm, llvm::errs())) ||
      mlir::failed(pm.run(module)))
    exitWithError(program, "the pipeline '" + pipeline + "' failed");
}

/// The N x K layer of `layerSource` with a static batch, its constant weight
/// `weight`, after r2q-quantize-linear; exits with an error naming
/// `program` if it does not compile that far.
inline mlir::OwningOpRef<mlir::ModuleOp>
quantizedLayerModule(llvm::StringRef program, mlir::MLIRContext &context,
                     int64_t n, int64_t k, const std::vector<float> &weight,
                     int64_t batch) {
  auto module = mlir::parseSourceString<mlir::ModuleOp>(
      layerSource(n, k, /*constantWeight=*/true, batch), &context);
  if (!module)
    exitWithError(program, "the layer does not parse");
  supplyFloatResources(*module, [&](mlir::DenseResourceElementsAttr,
                                    llvm::MutableArrayRef<float> values) {
    std::copy(weight.begin(), weight.end(), values.begin());
  });
  runPipeline(program, *module, "r2q-quantize-linear");
  return module;
}

} // namespace r2q

#endif // R2Q_BENCH_LINEARLAYER_H
