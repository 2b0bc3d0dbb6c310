//===- GPUAlignWorkgroupBuffers.cpp - 16-byte aligned shared buffers ------===//
//
// r2q-gpu-align-workgroup-buffers: every workgroup attribution of an
// outlined kernel gets `llvm.align = 16`, which its shared-memory global
// (and the PTX) then declares.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUALIGNWORKGROUPBUFFERSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// The widest shared-memory access of the kernels: 16 bytes (ldmatrix rows,
/// st.shared.v4).
constexpr int64_t kWorkgroupAlignment = 16;

class R2QGPUAlignWorkgroupBuffersPass
    : public impl::R2QGPUAlignWorkgroupBuffersPassBase<
          R2QGPUAlignWorkgroupBuffersPass> {
public:
  void runOnOperation() override {
    StringRef align = LLVM::LLVMDialect::getAlignAttrName();
    Builder builder(&getContext());
    getOperation()->walk([&](gpu::GPUFuncOp kernel) {
      for (unsigned index = 0, count = kernel.getNumWorkgroupAttributions();
           index < count; ++index)
        if (!kernel.getWorkgroupAttributionAttr(index, align))
          kernel.setWorkgroupAttributionAttr(
              index, align, builder.getI64IntegerAttr(kWorkgroupAlignment));
    });
  }
};

} // namespace
} // namespace r2q
