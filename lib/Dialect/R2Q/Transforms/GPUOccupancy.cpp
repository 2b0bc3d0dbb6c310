//===- GPUOccupancy.cpp - Two blocks per SM for small blocks --------------===//
//
// r2q-gpu-occupancy: every outlined kernel of at most 256 threads per block
// gets nvvm.minctasm = 2 (PTX .minnctapersm), which caps its registers so
// that two blocks fit in an SM's register file.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUOCCUPANCYPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

constexpr int32_t kMinBlocksPerSM = 2;
/// Larger blocks would be capped below 128 registers per thread.
constexpr int64_t kMaxThreads = 256;

class R2QGPUOccupancyPass
    : public impl::R2QGPUOccupancyPassBase<R2QGPUOccupancyPass> {
public:
  void runOnOperation() override {
    StringRef minBlocks = NVVM::NVVMDialect::getMinctasmAttrName();
    Builder builder(&getContext());
    getOperation()->walk([&](gpu::GPUFuncOp kernel) {
      DenseI32ArrayAttr block = kernel.getKnownBlockSizeAttr();
      if (!kernel.isKernel() || !block || kernel->hasAttr(minBlocks))
        return;
      int64_t threads = 1;
      for (int32_t size : block.asArrayRef())
        threads *= size;
      if (threads <= kMaxThreads)
        kernel->setAttr(minBlocks, builder.getI32IntegerAttr(kMinBlocksPerSM));
    });
  }
};

} // namespace
} // namespace r2q
