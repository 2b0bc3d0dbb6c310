//===- GPUOutlineKernels.cpp - Outlining that keeps kernel attributes -----===//
//
// r2q-gpu-outline-kernels: upstream's gpu-kernel-outlining, then the
// dictionary `r2q.kernel_attributes` that a lowering put on a gpu.launch
// set on the gpu.func outlined from it (matched by order: each launch
// becomes a gpu.launch_func in place).
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/DLTI/DLTI.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUOUTLINEKERNELSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// What each launch of `module` asks for its kernel, in order, taken off
/// the gpu.launch ops (a gpu.launch_func already there asks nothing).
SmallVector<DictionaryAttr> takeAskedAttributes(ModuleOp module) {
  SmallVector<DictionaryAttr> asked;
  module.walk([&](Operation *op) {
    if (isa<gpu::LaunchFuncOp>(op))
      asked.push_back(nullptr);
    if (!isa<gpu::LaunchOp>(op))
      return;
    asked.push_back(op->getAttrOfType<DictionaryAttr>(kKernelAttributesName));
    op->removeAttr(kKernelAttributesName);
  });
  return asked;
}

/// Sets `asked` on the kernels of the launches of `module`, matched in
/// order (outlining replaces each launch in place).
LogicalResult setAskedAttributes(ModuleOp module,
                                 ArrayRef<DictionaryAttr> asked) {
  SymbolTableCollection symbols;
  size_t index = 0;
  WalkResult result = module.walk([&](gpu::LaunchFuncOp launch) {
    DictionaryAttr attributes = index < asked.size() ? asked[index] : nullptr;
    ++index;
    if (!attributes)
      return WalkResult::advance();
    auto kernel = symbols.lookupNearestSymbolFrom<gpu::GPUFuncOp>(
        launch, launch.getKernel());
    if (!kernel) {
      launch.emitOpError("r2q-gpu-outline-kernels: the kernel outlined from "
                         "this launch, which asked for ")
          << attributes << ", is not where the launch can see it";
      return WalkResult::interrupt();
    }
    for (NamedAttribute attribute : attributes)
      kernel->setAttr(attribute.getName(), attribute.getValue());
    return WalkResult::advance();
  });
  if (result.wasInterrupted())
    return failure();
  // A count that differs means the order cannot be trusted.
  if (index != asked.size())
    return module.emitError("r2q-gpu-outline-kernels: ")
           << asked.size() << " launches before outlining, " << index
           << " after: their kernel attributes cannot be matched";
  return success();
}

class R2QGPUOutlineKernelsPass
    : public impl::R2QGPUOutlineKernelsPassBase<R2QGPUOutlineKernelsPass> {
public:
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<DictionaryAttr> asked = takeAskedAttributes(module);
    OpPassManager outlining(ModuleOp::getOperationName());
    outlining.addPass(createGpuKernelOutliningPass());
    if (failed(runPipeline(outlining, module)) ||
        failed(setAskedAttributes(module, asked)))
      signalPassFailure();
  }
};

} // namespace
} // namespace r2q
