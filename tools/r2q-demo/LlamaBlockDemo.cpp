//===- LlamaBlockDemo.cpp - Quantize, compile and run a model block -------===//

#include "LlamaBlockDemo.h"

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
  double quantizeSeconds = 0;
  double compileSeconds = 0;
};

/// Compiles `module` (in place) through r2q-cpu-pipeline on one thread,
/// after running the
/// passes `quantization` on it first when they are given.
std::optional<CompiledBlock> compileBlock(ModuleOp module,
                                          llvm::StringRef quantization = "") {
  CompiledBlock block;
  auto start = std::chrono::steady_clock::now();
  if (!quantization.empty()) {
    PassManager pm(module->getContext());
    if (failed(parsePassPipeline(quantization, pm)) || failed(pm.run(module)))
      return std::nullopt;
    block.quantizeSeconds = secondsSince(start);
  }
  start = std::chrono::steady_clock::now();
  // One thread, like the float block's loops (the r2q kernels would split
  // across all cores by default).
  auto compiled = compileModule(module, "r2q-cpu-pipeline{threads=1}");
  if (!compiled) {
    llvm::errs() << "error: " << toString(compiled.takeError()) << "\n";
    return std::nullopt;
  }
  block.compileSeconds = secondsSince(start);
  block.module = std::move(*compiled);
  block.constantBytes = countConstantBytes(module);
  return block;
}

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

double relativeError(const std::vector<float> &approximation,
                     const std::vector<float> &reference) {
  double error = 0, norm = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    error += std::pow(double(approximation[i]) - reference[i], 2);
    norm += double(reference[i]) * reference[i];
  }
  return std::sqrt(error / norm);
}

} // namespace

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
  std::optional<CompiledBlock> floatBlock = compileBlock(*floatModule);
  std::optional<CompiledBlock> r2qBlock =
      compileBlock(*greedyModule, "r2q-quantize-linear");
  std::optional<CompiledBlock> refinedBlock =
      compileBlock(*refinedModule, "r2q-quantize-linear{method=refined}");
  if (!floatBlock || !r2qBlock || !refinedBlock)
    return 1;

  auto bitsPerWeight = [&](const CompiledBlock &block) {
    return 8.0 * block.constantBytes / weights;
  };
  std::printf("compile: float %.2f s; r2q %.2f s quantizing (refined: %.2f "
              "s) + %.2f s lowering and JIT\n",
              floatBlock->compileSeconds, r2qBlock->quantizeSeconds,
              refinedBlock->quantizeSeconds, r2qBlock->compileSeconds);
  std::printf("constant data of the compiled module: float %.2f MB (%.2f "
              "bits/weight), r2q %.2f MB (%.3f bits/weight), %.1fx smaller\n\n",
              floatBlock->constantBytes / 1e6, bitsPerWeight(*floatBlock),
              r2qBlock->constantBytes / 1e6, bitsPerWeight(*r2qBlock),
              double(floatBlock->constantBytes) / r2qBlock->constantBytes);

  std::printf("%6s  %24s  %10s  %10s  %9s\n", "batch",
              "rel.error greedy/refined", "float ms", "r2q ms", "r2q/float");
  std::mt19937 generator(2511);
  std::normal_distribution<float> normal;
  for (int64_t batch : options.batches) {
    HostTensor<float, 2> input({batch, options.hidden});
    for (float &value : input.data())
      value = normal(generator);
    std::vector<float> reference = runBlock(*floatBlock->module, input);
    std::vector<float> greedy = runBlock(*r2qBlock->module, input);
    std::vector<float> refined = runBlock(*refinedBlock->module, input);
    double floatSeconds = medianSeconds(
        [&] { runBlock(*floatBlock->module, input); }, options.repetitions);
    double r2qSeconds = medianSeconds(
        [&] { runBlock(*r2qBlock->module, input); }, options.repetitions);
    std::printf("%6lld  %15.4f / %6.4f  %10.3f  %10.3f  %8.2fx\n",
                static_cast<long long>(batch), relativeError(greedy, reference),
                relativeError(refined, reference), floatSeconds * 1e3,
                r2qSeconds * 1e3, r2qSeconds / floatSeconds);
  }
  std::printf("\nThe float and r2q blocks went through the same "
              "r2q-cpu-pipeline (one thread). At batch 1 r2q computes from "
              "its sign bits with %lld-lane vector code; at batch 16 it "
              "decodes its 2-bit weights tile by tile on every call. The "
              "error is that of 2-bit post-training quantization without QAT, "
              "through three layers.\n",
              static_cast<long long>(hostVectorWidth()));
  return 0;
}

} // namespace r2q::demo
