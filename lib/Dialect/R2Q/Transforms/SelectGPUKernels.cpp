//===- SelectGPUKernels.cpp - The kernel of every r2q.matmul for a GPU ----===//
//
// The GPU counterpart of r2q-select-cpu-kernels: table lookups in shared
// memory (warp_lut_gemv), or sign flips by xor (warp_gemv) on request. The
// decision is the op's #r2q.kernel attribute.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

namespace r2q {
#define GEN_PASS_DEF_R2QSELECTGPUKERNELSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

bool isGPUStrategy(KernelStrategy strategy) {
  return strategy == KernelStrategy::WarpGemv ||
         strategy == KernelStrategy::WarpLutGemv;
}

class SelectGPUKernelsPass
    : public impl::R2QSelectGPUKernelsPassBase<SelectGPUKernelsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    std::optional<KernelStrategy> parsed =
        strategy == "auto" ? KernelStrategy::WarpLutGemv
                           : symbolizeKernelStrategy(strategy);
    if (!parsed || !isGPUStrategy(*parsed)) {
      emitError(getOperation()->getLoc())
          << "r2q-select-gpu-kernels: unknown strategy '" << strategy
          << "'; expected auto, warp_lut_gemv or warp_gemv";
      return signalPassFailure();
    }
    chosen = *parsed;
    if (tileRows < 0) {
      emitError(getOperation()->getLoc())
          << "r2q-select-gpu-kernels: tile-rows must be 0 (the strategy's "
             "default) or positive, not "
          << tileRows.getValue();
      return signalPassFailure();
    }
    WalkResult result = getOperation()->walk([&](MatmulOp op) {
      return succeeded(select(op)) ? WalkResult::advance()
                                   : WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

private:
  LogicalResult select(MatmulOp op) {
    if (KernelAttr kernel = op.getKernelAttr()) {
      if (isGPUStrategy(kernel.getStrategy()))
        return success();
      return op.emitOpError("r2q-select-gpu-kernels: kernel strategy ")
             << stringifyKernelStrategy(kernel.getStrategy())
             << " is a CPU kernel; the GPU runs warp_gemv or warp_lut_gemv";
    }
    if (std::string reason = op.warpGemvUnsupported(); !reason.empty())
      return op.emitOpError("r2q-select-gpu-kernels: no GPU kernel can "
                            "compute this op: ")
             << reason;
    KernelAttr portable = KernelAttr::getPortableDefault(op.getContext());
    op.setKernelAttr(KernelAttr::get(
        op.getContext(), chosen, std::nullopt, 0, portable.getVectorWidth(),
        tileRows, /*threads=*/1, KernelPrecision::Exact, KernelTarget::AVX2));
    return success();
  }

  KernelStrategy chosen = KernelStrategy::WarpLutGemv;
};

} // namespace
} // namespace r2q
