//===- GPUSinkConstants.cpp - Constants into gpu.launch bodies ------------===//
//
// r2q-gpu-sink-constants: every constant a gpu.launch body uses is cloned
// into the body, so that kernel outlining does not make it a parameter.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Utils/GPUUtils.h"
#include "mlir/IR/Matchers.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUSINKCONSTANTSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

class R2QGPUSinkConstantsPass
    : public impl::R2QGPUSinkConstantsPassBase<R2QGPUSinkConstantsPass> {
public:
  void runOnOperation() override {
    WalkResult result = getOperation()->walk([](gpu::LaunchOp launch) {
      auto isConstant = [](Operation *op) {
        return matchPattern(op, m_Constant());
      };
      return failed(sinkOperationsIntoLaunchOp(launch, isConstant))
                 ? WalkResult::interrupt()
                 : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
} // namespace r2q
