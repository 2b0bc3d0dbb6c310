//===- LoweringUtilities.cpp - Small checks and steps of lowering pipelines
//===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace r2q {
#define GEN_PASS_DEF_R2QEMITCINTERFACEPASS
#define GEN_PASS_DEF_R2QREJECTNESTEDMODULESPASS
#define GEN_PASS_DEF_R2QVERIFYLLVMCONTRACTPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

class EmitCInterfacePass
    : public impl::R2QEmitCInterfacePassBase<EmitCInterfacePass> {
public:
  using Base::Base;

  void runOnOperation() override {
    getOperation()->walk([](func::FuncOp function) {
      if (function.isPublic() && !function.isExternal())
        function->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                          UnitAttr::get(function.getContext()));
    });
  }
};

class VerifyLLVMContractPass
    : public impl::R2QVerifyLLVMContractPassBase<VerifyLLVMContractPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    bool clean = true;
    getOperation()->walk([&](Operation *op) {
      if (op == getOperation() ||
          isa<LLVM::LLVMDialect, omp::OpenMPDialect>(op->getDialect()))
        return;
      op->emitError() << "'" << op->getName()
                      << "' was not lowered to the LLVM dialect";
      clean = false;
    });
    if (!clean)
      signalPassFailure();
  }
};

class RejectNestedModulesPass
    : public impl::R2QRejectNestedModulesPassBase<RejectNestedModulesPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    bool nested = false;
    for (auto module : getOperation().getBody()->getOps<ModuleOp>()) {
      InFlightDiagnostic error = module.emitError("nested 'builtin.module'");
      if (std::optional<StringRef> name = module.getName())
        error << " @" << *name;
      error << ": a pipeline compiles the functions of one module and would "
               "leave this one half lowered; compile each module on its own, "
               "e.g. --pass-pipeline='builtin.module(builtin.module("
               "r2q-cpu-pipeline))' for the modules one level down";
      nested = true;
    }
    if (nested)
      signalPassFailure();
  }
};

} // namespace
} // namespace r2q
