//===- Jit.h - Compiling and calling r2q modules in-process -----*- C++ -*-===//

#ifndef R2Q_RUNTIME_JIT_H
#define R2Q_RUNTIME_JIT_H

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <mutex>
#include <string>

namespace llvm {
class TargetMachine;
} // namespace llvm

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace r2q {

/// The CPU the JIT generates machine code for.
struct JitTarget {
  /// Empty (default): the host CPU with all its features. Otherwise LLVM
  /// target features in the syntax of r2q-cpu-pipeline's `target-features`
  /// (e.g. "+avx2,+fma,+f16c"): a generic CPU of the host's architecture
  /// with exactly these features (and those they imply), so that an AVX-512
  /// host generates AVX2-only code when asked to. (Features added to the
  /// host CPU's name could not take AVX-512 away: the name implies it.)
  std::string features;
};

/// The LLVM target machine JitModule compiles for `target`, at -O3.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
createJitTargetMachine(const JitTarget &target = {});

/// A module lowered to the LLVM dialect (see r2q-cpu-pipeline), compiled with
/// LLVM -O3 for the host CPU and its features (AVX-512 where present), or
/// for the features `target` names.
class JitModule {
public:
  /// Compiles `module`, which must hold only LLVM dialect ops (and, after
  /// r2q-gpu-pipeline, gpu.binary ops). Its calls resolve in MLIR's C
  /// runner utilities, the OpenMP runtime and the shared `libraries` (such
  /// as libr2q_cuda_runtime.so for GPU host code), loaded now; global
  /// constructors (a GPU module's kernel loading) run at the first call.
  static llvm::Expected<std::unique_ptr<JitModule>>
  compile(mlir::ModuleOp module, const JitTarget &target = {},
          llvm::ArrayRef<std::string> libraries = {});

  /// Calls `_mlir_ciface_<function>`; memrefs are passed as pointers to
  /// StridedMemRefType descriptors, a returned memref as a pointer to the
  /// descriptor to fill, first.
  template <typename... Args>
  llvm::Error call(llvm::StringRef function, Args *...args) {
    initializeOnce();
    return engine_->invoke(function, args...);
  }

private:
  /// Runs the module's global constructors (a GPU module's kernel loading)
  /// once, however many threads make the first calls at once.
  void initializeOnce() {
    std::call_once(initialized_, [this] { engine_->initialize(); });
  }

  explicit JitModule(std::unique_ptr<mlir::ExecutionEngine> engine)
      : engine_(std::move(engine)) {}
  std::unique_ptr<mlir::ExecutionEngine> engine_;
  std::once_flag initialized_;
};

/// The OpenMP runtime (LLVM 22's libomp) that code of r2q-cpu-pipeline with
/// parallel loops calls; JitModule loads it, and mlir-runner needs it in
/// -shared-libs.
llvm::StringRef openMPRuntimeLibrary();

/// Registers the translations JitModule needs to turn LLVM dialect into
/// LLVM IR.
void registerJitTranslations(mlir::DialectRegistry &registry);

/// Parses `source`, runs the passes `pipeline` on the module (textual, the
/// inside of r2q-opt's --pass-pipeline=builtin.module(...), e.g.
/// "r2q-quantize-linear,r2q-cpu-pipeline") and compiles the result.
/// Diagnostics go to the context's handlers (stderr by default). To compile
/// for another target than the host, give the pipeline's
/// `target-features` the same features as `target`.
llvm::Expected<std::unique_ptr<JitModule>>
compileSource(mlir::MLIRContext &context, llvm::StringRef source,
              llvm::StringRef pipeline, const JitTarget &target = {});

/// Same, for a module already in memory (transformed in place).
llvm::Expected<std::unique_ptr<JitModule>>
compileModule(mlir::ModuleOp module, llvm::StringRef pipeline,
              const JitTarget &target = {});

} // namespace r2q

#endif // R2Q_RUNTIME_JIT_H
