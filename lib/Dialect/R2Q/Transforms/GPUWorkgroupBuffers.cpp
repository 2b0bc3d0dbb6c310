//===- GPUWorkgroupBuffers.cpp - Workgroup allocas to attributions --------===//
//
// r2q-gpu-workgroup-buffers: memref.alloca ops in workgroup memory before a
// gpu.launch that alone uses them become workgroup attributions of it.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUWORKGROUPBUFFERSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

bool inWorkgroupMemory(memref::AllocaOp alloca) {
  auto space = dyn_cast_or_null<gpu::AddressSpaceAttr>(
      alloca.getType().getMemorySpace());
  return space && space.getValue() == gpu::AddressSpace::Workgroup;
}

/// The one gpu.launch whose body holds every use of `alloca`, if any.
gpu::LaunchOp onlyLaunchUsing(memref::AllocaOp alloca) {
  gpu::LaunchOp launch;
  for (Operation *user : alloca->getUsers()) {
    auto enclosing = user->getParentOfType<gpu::LaunchOp>();
    if (!enclosing || (launch && enclosing != launch))
      return nullptr;
    launch = enclosing;
  }
  return launch;
}

class R2QGPUWorkgroupBuffersPass
    : public impl::R2QGPUWorkgroupBuffersPassBase<R2QGPUWorkgroupBuffersPass> {
public:
  void runOnOperation() override {
    SmallVector<memref::AllocaOp> allocas;
    getOperation()->walk([&](memref::AllocaOp alloca) {
      if (inWorkgroupMemory(alloca) && alloca.getType().hasStaticShape() &&
          !alloca->getParentOfType<gpu::LaunchOp>())
        allocas.push_back(alloca);
    });
    for (memref::AllocaOp alloca : allocas) {
      gpu::LaunchOp launch = onlyLaunchUsing(alloca);
      if (!launch) {
        alloca.emitOpError("in workgroup memory must be used by one "
                           "gpu.launch only");
        return signalPassFailure();
      }
      Value buffer =
          launch.addWorkgroupAttribution(alloca.getType(), alloca.getLoc());
      alloca.replaceAllUsesWith(buffer);
      alloca.erase();
    }
  }
};

} // namespace
} // namespace r2q
