//===- Jit.cpp - Compiling and calling r2q modules in-process -------------===//

#include "r2q/Runtime/Jit.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace mlir;

namespace r2q {

llvm::StringRef openMPRuntimeLibrary() { return R2Q_OPENMP_RUNTIME; }

void registerJitTranslations(DialectRegistry &registry) {
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
}

llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
createJitTargetMachine(const JitTarget &target) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return builder.takeError();
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  if (!target.features.empty()) {
    // "generic" names no features of its own: only the requested ones (and
    // the architecture's baseline) are enabled.
    builder->setCPU("generic");
    llvm::SmallVector<llvm::StringRef> features;
    llvm::StringRef(target.features).split(features, ',', -1, false);
    builder->setFeatures("");
    for (llvm::StringRef feature : features)
      builder->getFeatures().AddFeature(feature.trim());
  }
  return builder->createTargetMachine();
}

llvm::Expected<std::unique_ptr<JitModule>>
JitModule::compile(ModuleOp module, const JitTarget &target,
                   llvm::ArrayRef<std::string> libraries) {
  DialectRegistry registry;
  registerJitTranslations(registry);
  module->getContext()->appendDialectRegistry(registry);

  auto targetMachine = createJitTargetMachine(target);
  if (!targetMachine)
    return targetMachine.takeError();

  // ExecutionEngineOptions holds a function_ref: the transformer must outlive
  // create().
  auto optimize = makeOptimizingTransformer(/*optLevel=*/3, /*sizeLevel=*/0,
                                            targetMachine->get());
  // memref.copy of strided memrefs lowers to a call of memrefCopy, which
  // lives in MLIR's C runner utilities, not in libMLIR; parallel loops call
  // libomp.
  llvm::SmallVector<llvm::StringRef> runtimeLibraries = {
      R2Q_C_RUNNER_UTILS, openMPRuntimeLibrary()};
  llvm::append_range(runtimeLibraries, libraries);
  ExecutionEngineOptions options;
  options.sharedLibPaths = runtimeLibraries;
  options.transformer = optimize;
  options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  auto engine =
      ExecutionEngine::create(module, options, std::move(*targetMachine));
  if (!engine)
    return engine.takeError();
  return std::unique_ptr<JitModule>(new JitModule(std::move(*engine)));
}

llvm::Expected<std::unique_ptr<JitModule>>
compileModule(ModuleOp module, llvm::StringRef pipeline,
              const JitTarget &target) {
  PassManager pm(module->getContext());
  if (failed(parsePassPipeline(pipeline, pm, llvm::errs())))
    return llvm::createStringError("invalid pass pipeline: " + pipeline);
  if (failed(pm.run(module)))
    return llvm::createStringError("the pass pipeline failed (see the "
                                   "diagnostics above)");
  return JitModule::compile(module, target);
}

llvm::Expected<std::unique_ptr<JitModule>>
compileSource(MLIRContext &context, llvm::StringRef source,
              llvm::StringRef pipeline, const JitTarget &target) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &context);
  if (!module)
    return llvm::createStringError("the module does not parse (see the "
                                   "diagnostics above)");
  return compileModule(*module, pipeline, target);
}

} // namespace r2q
