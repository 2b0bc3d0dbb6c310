//===- GPUSynchronousManagedAllocs.cpp - host_shared allocs made sync -----===//
//
// r2q-gpu-synchronous-managed-allocs: after gpu-async-region, each
// `gpu.alloc async [...] host_shared` becomes synchronous again (gpu-to-llvm
// lowers managed allocations in no other form), its token replaced by its
// dependencies.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUSYNCHRONOUSMANAGEDALLOCSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// The token that stands for all of `dependencies`: the one there is, or a
/// join of them (a fresh stream's where there are none).
Value joinedToken(OpBuilder &builder, Location loc, ValueRange dependencies) {
  if (dependencies.size() == 1)
    return dependencies.front();
  return gpu::WaitOp::create(
             builder, loc, builder.getType<gpu::AsyncTokenType>(), dependencies)
      .getAsyncToken();
}

void makeSynchronous(gpu::AllocOp alloc) {
  OpBuilder builder(alloc);
  Location loc = alloc.getLoc();
  alloc.getAsyncToken().replaceAllUsesWith(
      joinedToken(builder, loc, alloc.getAsyncDependencies()));
  auto managed = gpu::AllocOp::create(
      builder, loc, alloc.getMemref().getType(), /*asyncToken=*/Type(),
      ValueRange{}, alloc.getDynamicSizes(), alloc.getSymbolOperands(),
      /*hostShared=*/true);
  alloc.getMemref().replaceAllUsesWith(managed.getMemref());
  alloc.erase();
}

class R2QGPUSynchronousManagedAllocsPass
    : public impl::R2QGPUSynchronousManagedAllocsPassBase<
          R2QGPUSynchronousManagedAllocsPass> {
public:
  void runOnOperation() override {
    SmallVector<gpu::AllocOp> asyncManaged;
    getOperation()->walk([&](gpu::AllocOp alloc) {
      if (alloc.getHostShared() && alloc.getAsyncToken())
        asyncManaged.push_back(alloc);
    });
    for (gpu::AllocOp alloc : asyncManaged)
      makeSynchronous(alloc);
  }
};

} // namespace
} // namespace r2q
