//===- TilingBench.cpp - Measured kernel tuning for r2q.matmul -----------===//
//
// r2q-bench-tiling: for linear layers of given shapes and static batches,
// compiles the quantized layer with every candidate CPU kernel
// (tilingCandidates: strategies x tile rows x vector widths that apply),
// the default selection's kernel (r2q-select-cpu-kernels) and the cost
// model's (r2q-tune-tiling{mode=model}) among them, checks each against the
// numerics core, times them call by call in turn (one warm-up call each,
// medians) and prints default, model and measured best. With --out=FILE it
// writes the winners as a tuning file (docs/tuning.md) that
// r2q-tune-tiling{mode=file} and r2q-cpu-pipeline{tune=file:FILE} read. A
// candidate wins only when its median is at least 3% below the default's:
// the default is always a candidate, so the winner is never slower.
//
//   r2q-bench-tiling --shapes=4096x4096,4096x14336 --batches=1,4,16
//       [--rounds=9] [--threads=1] [--seed=11] [--out=tuning.json]
//       [--verbose]  (every candidate's median too)
//
//===----------------------------------------------------------------------===//

#include "LinearLayer.h"

#include "r2q/Dialect/R2Q/Transforms/Tiling.h"
#include "r2q/InitAll.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"
#include "r2q/Runtime/Resources.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <cstdio>
#include <random>

using namespace r2q;

namespace {

struct Arguments {
  std::vector<std::pair<int64_t, int64_t>> shapes = {{4096, 4096},
                                                     {4096, 14336}};
  std::vector<int64_t> batches = {1, 4, 16};
  int64_t rounds = 9, threads = 1, seed = 11;
  std::string out;
  /// Print every candidate's median, not only default, model and best.
  bool verbose = false;
};

constexpr const char *kProgram = "r2q-bench-tiling";

[[noreturn]] void fail(const llvm::Twine &message) {
  exitWithError(kProgram, message);
}

std::vector<int64_t> integers(llvm::StringRef list, char separator) {
  return positiveIntegers(kProgram, list, separator);
}

Arguments parseArguments(int argc, char **argv) {
  Arguments arguments;
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef argument(argv[i]);
    if (argument.consume_front("--shapes=")) {
      arguments.shapes.clear();
      llvm::SmallVector<llvm::StringRef> shapes;
      argument.split(shapes, ',');
      for (llvm::StringRef shape : shapes) {
        std::vector<int64_t> sizes = integers(shape, 'x');
        if (sizes.size() != 2)
          fail("a shape is NxK, not '" + shape + "'");
        arguments.shapes.push_back({sizes[0], sizes[1]});
      }
    } else if (argument.consume_front("--batches=")) {
      arguments.batches = integers(argument, ',');
    } else if (argument.consume_front("--rounds=")) {
      arguments.rounds = integers(argument, ',').front();
    } else if (argument.consume_front("--threads=")) {
      arguments.threads = integers(argument, ',').front();
    } else if (argument.consume_front("--seed=")) {
      arguments.seed = integers(argument, ',').front();
    } else if (argument == "--verbose") {
      arguments.verbose = true;
    } else if (argument.consume_front("--out=")) {
      arguments.out = argument.str();
    } else {
      fail("unknown argument '" + argument + "'");
    }
  }
  return arguments;
}

MatmulOp theMatmul(mlir::ModuleOp module) {
  MatmulOp found;
  module->walk([&](MatmulOp op) { found = op; });
  if (!found)
    fail("the quantized layer has no r2q.matmul");
  return found;
}

/// The kernel a pass writes on a copy of the quantized layer.
TilingChoice choiceOf(mlir::ModuleOp quantized, llvm::StringRef pass) {
  mlir::OwningOpRef<mlir::ModuleOp> copy = quantized.clone();
  runPipeline(kProgram, *copy, pass);
  KernelAttr kernel = theMatmul(*copy).getKernelAttr();
  return {kernel.getStrategy(), kernel.getTileRows(), kernel.getVectorWidth()};
}

/// The quantized layer compiled with `choice` as its kernel.
std::unique_ptr<JitModule> compileWith(mlir::ModuleOp quantized,
                                       const TilingChoice &choice,
                                       int64_t threads) {
  mlir::OwningOpRef<mlir::ModuleOp> copy = quantized.clone();
  MatmulOp op = theMatmul(*copy);
  op.setKernelAttr(tilingKernel(op, choice, threads, ""));
  auto compiled = compileModule(
      *copy, llvm::formatv("r2q-cpu-pipeline{{threads={0}}", threads).str());
  if (!compiled)
    fail("compiling " + choice.str() + ": " + toString(compiled.takeError()));
  return std::move(*compiled);
}

struct Measured {
  TilingEntry entry;
  TilingChoice model;
  double modelSeconds;
};

Measured measure(mlir::MLIRContext &context, int64_t n, int64_t k,
                 int64_t batch, const Arguments &arguments,
                 std::mt19937 &generator) {
  std::normal_distribution<float> normal;
  std::vector<float> weight(n * k);
  for (float &value : weight)
    value = 0.02f * normal(generator);
  auto module = quantizedLayerModule(kProgram, context, n, k, weight, batch);
  const int64_t threads = arguments.threads;
  TilingChoice byDefault = choiceOf(
      *module,
      llvm::formatv("r2q-select-cpu-kernels{{threads={0}}", threads).str());
  TilingChoice model = choiceOf(
      *module,
      llvm::formatv("r2q-tune-tiling{{mode=model threads={0}}", threads).str());
  std::vector<TilingChoice> candidates = {byDefault};
  for (const TilingChoice &choice : tilingCandidates(theMatmul(*module), ""))
    if (!llvm::is_contained(candidates, choice))
      candidates.push_back(choice);
  if (!llvm::is_contained(candidates, model))
    candidates.push_back(model);

  std::vector<std::unique_ptr<JitModule>> compiled;
  for (const TilingChoice &choice : candidates)
    compiled.push_back(compileWith(*module, choice, threads));
  quant::PackedWeight packed;
  if (!quant::quantize(quant::MatrixView::ofFloats(weight.data(), n, k),
                       quant::Scheme{}, packed)
           .ok())
    fail("the numerics core cannot quantize the weight");
  HostTensor<float, 2> x({batch, k});
  for (float &value : x.data())
    value = normal(generator);
  auto xDescriptor = x.descriptor();
  std::vector<double> expected(batch * n);
  quant::referenceMatmul(x.data().data(), batch, packed, expected.data());
  std::vector<std::vector<float>> outputs(candidates.size());
  std::vector<std::function<void()>> runs;
  for (size_t i = 0; i < candidates.size(); ++i)
    runs.push_back([&, i] {
      StridedMemRefType<float, 2> result{};
      if (llvm::Error error =
              compiled[i]->call("linear", &result, &xDescriptor))
        fail("calling " + candidates[i].str() + ": " +
             toString(std::move(error)));
      outputs[i] = HostTensor<float, 2>::adoptResult(result).data();
    });
  std::vector<double> seconds = interleavedMedians(runs, arguments.rounds);

  size_t best = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (relativeError(outputs[i], expected) > 1e-5)
      fail(candidates[i].str() + " differs from the numerics core");
    if (seconds[i] < seconds[best])
      best = i;
  }
  // Noise must not make a candidate the winner: it beats the default by 3%.
  if (seconds[best] > 0.97 * seconds[0])
    best = 0;
  size_t modelIndex = llvm::find(candidates, model) - candidates.begin();
  Measured measured;
  measured.entry = {*tilingKeyOf(theMatmul(*module), ""), candidates[best],
                    seconds[best], seconds[0]};
  measured.model = model;
  measured.modelSeconds = seconds[modelIndex];
  std::printf("%5lldx%-6lld %5lld %3zu | %-36s %8.3f | %-36s %8.3f | %-36s "
              "%8.3f | %7.2fx %7.2fx\n",
              static_cast<long long>(n), static_cast<long long>(k),
              static_cast<long long>(batch), candidates.size(),
              byDefault.str().c_str(), seconds[0] * 1e3, model.str().c_str(),
              measured.modelSeconds * 1e3, candidates[best].str().c_str(),
              seconds[best] * 1e3, seconds[0] / seconds[best],
              measured.modelSeconds / seconds[best]);
  if (arguments.verbose)
    for (size_t i = 0; i < candidates.size(); ++i)
      std::printf("    %-36s %8.3f ms\n", candidates[i].str().c_str(),
                  seconds[i] * 1e3);
  std::fflush(stdout);
  return measured;
}

} // namespace

int main(int argc, char **argv) {
  Arguments arguments = parseArguments(argc, argv);
  mlir::DialectRegistry registry;
  registerR2QAndUpstream(registry);
  registerJitTranslations(registry);
  mlir::MLIRContext context(registry);
  context.disableMultithreading();
  std::mt19937 generator(arguments.seed);
  std::printf("r2q-bench-tiling: %lld thread(s), %lld rounds (medians, "
              "candidates timed call by call in turn), seed %lld, target "
              "'%s'\n",
              static_cast<long long>(arguments.threads),
              static_cast<long long>(arguments.rounds),
              static_cast<long long>(arguments.seed), tilingTarget("").c_str());
  std::printf("%-12s %5s %3s | %-36s %8s | %-36s %8s | %-36s %8s | %8s "
              "%8s\n",
              "N x K", "batch", "cnd", "default kernel", "ms", "model kernel",
              "ms", "measured best", "ms", "dflt/best", "model/best");
  std::vector<TilingEntry> entries;
  for (auto [n, k] : arguments.shapes)
    for (int64_t batch : arguments.batches)
      entries.push_back(
          measure(context, n, k, batch, arguments, generator).entry);
  if (!arguments.out.empty())
    if (llvm::Error error = writeTilingFile(arguments.out, entries))
      fail(toString(std::move(error)));
  return 0;
}
