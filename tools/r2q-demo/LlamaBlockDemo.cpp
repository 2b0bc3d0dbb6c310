//===- LlamaBlockDemo.cpp - Quantize, compile and run a model block -------===//

#include "LlamaBlockDemo.h"
#include "GpuBlockDemo.h"

#include "r2q/InitAll.h"
#include "r2q/Pipelines/Pipelines.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"
#include "r2q/Runtime/ModuleStats.h"
#include "r2q/Runtime/Resources.h"
#include "r2q/Runtime/Timing.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/MemoryBuffer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>

using namespace mlir;

namespace r2q::demo {
namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

std::string instantiate(std::string text, int64_t hidden,
                        int64_t intermediate) {
  for (auto [key, value] :
       {std::pair{std::string("@HIDDEN@"), hidden},
        std::pair{std::string("@INTERMEDIATE@"), intermediate}}) {
    for (size_t at = text.find(key); at != std::string::npos;
         at = text.find(key, at))
      text.replace(at, key.size(), std::to_string(value));
  }
  return text;
}

/// A stable 32-bit hash (FNV-1a), so that weights are the same on every
/// machine and build.
uint32_t stableHash(llvm::StringRef text) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : text)
    hash = (hash ^ c) * 16777619u;
  return hash;
}

/// Deterministic random data for every dense_resource weight of `module`:
/// Student-t(5) values (heavier tails than a Gaussian, like trained weights)
/// with standard deviation 0.02, seeded by the resource name.
void attachRandomWeights(ModuleOp module) {
  supplyFloatResources(module, [](DenseResourceElementsAttr resource,
                                  MutableArrayRef<float> values) {
    std::mt19937 generator(stableHash(resource.getRawHandle().getKey()));
    std::student_t_distribution<float> studentT(5.0f);
    const float scale = 0.02f / std::sqrt(5.0f / 3.0f);
    for (float &value : values)
      value = scale * studentT(generator);
  });
}

/// One compiled version of the block and what it cost.
struct CompiledBlock {
  std::unique_ptr<JitModule> module;
  int64_t constantBytes = 0;
  double compileSeconds = 0;
};

/// Runs the passes `quantization` on `module` (in place); returns the
/// seconds they took, std::nullopt if they failed.
std::optional<double> quantizeBlock(ModuleOp module,
                                    llvm::StringRef quantization) {
  auto start = std::chrono::steady_clock::now();
  PassManager pm(module->getContext());
  if (failed(parsePassPipeline(quantization, pm)) || failed(pm.run(module)))
    return std::nullopt;
  return secondsSince(start);
}

/// Compiles a copy of `module` through r2q-cpu-pipeline for `threads`
/// threads (the r2q kernels split their output features among them) and
/// `precision` (exact, or fast: int8 activations).
std::optional<CompiledBlock> compileBlock(ModuleOp module, int64_t threads,
                                          llvm::StringRef precision = "exact") {
  OwningOpRef<ModuleOp> copy = module.clone();
  CompiledBlock block;
  auto start = std::chrono::steady_clock::now();
  auto compiled = compileModule(
      *copy, "r2q-cpu-pipeline{threads=" + std::to_string(threads) +
                 " precision=" + precision.str() + "}");
  if (!compiled) {
    llvm::errs() << "error: " << toString(compiled.takeError()) << "\n";
    return std::nullopt;
  }
  block.compileSeconds = secondsSince(start);
  block.module = std::move(*compiled);
  block.constantBytes = countConstantBytes(*copy);
  return block;
}

/// The float and r2q blocks (exact and fast) compiled for one thread count.
struct BlockPair {
  int64_t threads;
  CompiledBlock floatBlock, r2qBlock, fastBlock;
};

/// Runs the block on `input` (batch x hidden) and returns its output.
std::vector<float> runBlock(JitModule &module, HostTensor<float, 2> &input) {
  auto inputDescriptor = input.descriptor();
  StridedMemRefType<float, 2> result{};
  if (llvm::Error error = module.call("main", &result, &inputDescriptor)) {
    llvm::errs() << "error: " << toString(std::move(error)) << "\n";
    std::exit(1);
  }
  return HostTensor<float, 2>::adoptResult(result).data();
}

} // namespace

double relativeError(const std::vector<float> &approximation,
                     const std::vector<float> &reference) {
  double error = 0, norm = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    error += std::pow(double(approximation[i]) - reference[i], 2);
    norm += double(reference[i]) * reference[i];
  }
  return std::sqrt(error / norm);
}

/// 1 and all hardware threads of the host, where `requested` is empty.
std::vector<int64_t> threadCounts(const std::vector<int64_t> &requested) {
  if (!requested.empty())
    return requested;
  int64_t all = std::max(1u, std::thread::hardware_concurrency());
  return all > 1 ? std::vector<int64_t>{1, all} : std::vector<int64_t>{1};
}

int runLlamaBlockDemo(const LlamaBlockOptions &options) {
  auto file = llvm::MemoryBuffer::getFile(options.templatePath);
  if (!file) {
    std::fprintf(stderr, "error: cannot read %s\n",
                 options.templatePath.c_str());
    return 1;
  }
  DialectRegistry registry;
  registerR2QAndUpstream(registry);
  registerJitTranslations(registry);
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> floatModule = parseSourceString<ModuleOp>(
      instantiate((*file)->getBuffer().str(), options.hidden,
                  options.intermediate),
      &context);
  if (!floatModule)
    return 1;
  attachRandomWeights(*floatModule);
  OwningOpRef<ModuleOp> greedyModule = floatModule->clone();
  OwningOpRef<ModuleOp> refinedModule = floatModule->clone();
  const int64_t weights = countLinearLayerWeights(*floatModule);

  std::printf("== Llama-style MLP block in Torch-MLIR form: hidden %lld, "
              "intermediate %lld, %.2f M weights\n\n",
              static_cast<long long>(options.hidden),
              static_cast<long long>(options.intermediate), weights / 1e6);
  std::optional<double> greedySeconds =
      quantizeBlock(*greedyModule, "r2q-quantize-linear");
  std::optional<double> refinedSeconds =
      quantizeBlock(*refinedModule, "r2q-quantize-linear{method=refined}");
  if (!greedySeconds || !refinedSeconds)
    return 1;
  // The refined block is compiled once, for its error: the outputs do not
  // depend on the thread count.
  std::optional<CompiledBlock> refinedBlock = compileBlock(*refinedModule, 1);
  std::vector<BlockPair> pairs;
  for (int64_t threads : threadCounts(options.threads)) {
    std::optional<CompiledBlock> floatBlock =
        compileBlock(*floatModule, threads);
    std::optional<CompiledBlock> r2qBlock =
        compileBlock(*greedyModule, threads);
    std::optional<CompiledBlock> fastBlock =
        compileBlock(*greedyModule, threads, "fast");
    if (!floatBlock || !r2qBlock || !fastBlock)
      return 1;
    pairs.push_back({threads, std::move(*floatBlock), std::move(*r2qBlock),
                     std::move(*fastBlock)});
  }
  if (!refinedBlock)
    return 1;
  const CompiledBlock &floatBlock = pairs.front().floatBlock;
  const CompiledBlock &r2qBlock = pairs.front().r2qBlock;

  auto bitsPerWeight = [&](const CompiledBlock &block) {
    return 8.0 * block.constantBytes / weights;
  };
  std::printf("compile (%lld thread(s)): float %.2f s; r2q %.2f s quantizing "
              "(refined: %.2f s) + %.2f s lowering and JIT\n",
              static_cast<long long>(pairs.front().threads),
              floatBlock.compileSeconds, *greedySeconds, *refinedSeconds,
              r2qBlock.compileSeconds);
  std::printf("constant data of the compiled module: float %.2f MB (%.2f "
              "bits/weight), r2q %.2f MB (%.3f bits/weight), %.1fx "
              "smaller\n\n",
              floatBlock.constantBytes / 1e6, bitsPerWeight(floatBlock),
              r2qBlock.constantBytes / 1e6, bitsPerWeight(r2qBlock),
              double(floatBlock.constantBytes) / r2qBlock.constantBytes);

  std::printf("%6s  %7s  %31s  %9s  %9s  %9s  %9s  %10s\n", "batch", "threads",
              "rel.error greedy/refined/fast", "float ms", "r2q ms", "fast ms",
              "r2q/float", "fast/float");
  std::mt19937 generator(2511);
  std::normal_distribution<float> normal;
  for (int64_t batch : options.batches) {
    HostTensor<float, 2> input({batch, options.hidden});
    for (float &value : input.data())
      value = normal(generator);
    std::vector<float> refined = runBlock(*refinedBlock->module, input);
    for (BlockPair &pair : pairs) {
      std::vector<float> reference = runBlock(*pair.floatBlock.module, input);
      std::vector<float> greedy = runBlock(*pair.r2qBlock.module, input);
      std::vector<float> fast = runBlock(*pair.fastBlock.module, input);
      auto median = [&](const CompiledBlock &block) {
        return medianSeconds([&] { runBlock(*block.module, input); },
                             options.repetitions);
      };
      double floatSeconds = median(pair.floatBlock);
      double r2qSeconds = median(pair.r2qBlock);
      double fastSeconds = median(pair.fastBlock);
      std::printf(
          "%6lld  %7lld  %15.4f / %6.4f / %6.4f  %9.3f  %9.3f  %9.3f  %8.2fx  "
          "%9.2fx\n",
          static_cast<long long>(batch), static_cast<long long>(pair.threads),
          relativeError(greedy, reference), relativeError(refined, reference),
          relativeError(fast, reference), floatSeconds * 1e3, r2qSeconds * 1e3,
          fastSeconds * 1e3, r2qSeconds / floatSeconds,
          fastSeconds / floatSeconds);
    }
  }
  std::printf(
      "\nThe float and r2q blocks went through the same "
      "r2q-cpu-pipeline{threads=T}; its threads split the r2q "
      "kernels' output features, the float block's linalg ops run "
      "on one thread. Consecutive calls (the 2.4 MB of r2q weights "
      "may stay in the last-level cache; make bench times cold "
      "weights). The batch is dynamic: at batch 1 r2q computes from its "
      "sign bits with %lld-lane vector code, at batch 16 it decodes "
      "its 2-bit weights tile by tile on every call; `fast` "
      "(r2q-cpu-pipeline{precision=fast}) runs batch 16 on int8 "
      "activations and byte dot products (int8_gemm), batch 1 as r2q. The "
      "error is that of 2-bit post-training quantization without QAT, "
      "through three layers (fast: plus int8 activations).\n\n",
      static_cast<long long>(hostVectorWidth()));
  CompiledBlock &cpuBlock = pairs.front().r2qBlock;
  bool ran =
      printGpuBlock(*greedyModule, options.hidden, options.batches,
                    options.repetitions, [&](HostTensor<float, 2> &input) {
                      return runBlock(*cpuBlock.module, input);
                    });
  return ran ? 0 : 1;
}

} // namespace r2q::demo
