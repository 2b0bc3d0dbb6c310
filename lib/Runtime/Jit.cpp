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

using namespace mlir;

namespace r2q {

llvm::StringRef openMPRuntimeLibrary() { return R2Q_OPENMP_RUNTIME; }

void registerJitTranslations(DialectRegistry &registry) {
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
}

llvm::Expected<std::unique_ptr<JitModule>> JitModule::compile(ModuleOp module) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  DialectRegistry registry;
  registerJitTranslations(registry);
  module->getContext()->appendDialectRegistry(registry);

  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return builder.takeError();
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto targetMachine = builder->createTargetMachine();
  if (!targetMachine)
    return targetMachine.takeError();

  // ExecutionEngineOptions holds a function_ref: the transformer must outlive
  // create().
  auto optimize = makeOptimizingTransformer(/*optLevel=*/3, /*sizeLevel=*/0,
                                            targetMachine->get());
  // memref.copy of strided memrefs lowers to a call of memrefCopy, which
  // lives in MLIR's C runner utilities, not in libMLIR; parallel loops call
  // libomp.
  llvm::StringRef runtimeLibraries[] = {R2Q_C_RUNNER_UTILS,
                                        openMPRuntimeLibrary()};
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
compileModule(ModuleOp module, llvm::StringRef pipeline) {
  PassManager pm(module->getContext());
  if (failed(parsePassPipeline(pipeline, pm, llvm::errs())))
    return llvm::createStringError("invalid pass pipeline: " + pipeline);
  if (failed(pm.run(module)))
    return llvm::createStringError("the pass pipeline failed (see the "
                                   "diagnostics above)");
  return JitModule::compile(module);
}

llvm::Expected<std::unique_ptr<JitModule>>
compileSource(MLIRContext &context, llvm::StringRef source,
              llvm::StringRef pipeline) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &context);
  if (!module)
    return llvm::createStringError("the module does not parse (see the "
                                   "diagnostics above)");
  return compileModule(*module, pipeline);
}

} // namespace r2q
