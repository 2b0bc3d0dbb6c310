//===- GPUStridedCopies.cpp - Strided host copies as GPU kernels ----------===//
//
// r2q-gpu-strided-copies: a memref.copy of host code with a strided layout
// on either side becomes a linalg.copy, which r2q-gpu-pipeline's next steps
// map to a GPU kernel like any other linalg op.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace r2q {
#define GEN_PASS_DEF_R2QGPUSTRIDEDCOPIESPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// Whether `buffer` is a ranked memref of rank 1 or more with a
/// non-identity layout (a rank-0 view lowers to one host access, not a
/// loop; an unranked one has no layout to tell).
bool isStrided(Value buffer) {
  auto type = dyn_cast<MemRefType>(buffer.getType());
  return type && type.getRank() > 0 && !type.getLayout().isIdentity();
}

/// Whether `copy` is one of host code (not a kernel's) between ranked
/// buffers that are not both dense.
bool isStridedHostCopy(memref::CopyOp copy) {
  return !copy->getParentOfType<gpu::LaunchOp>() &&
         isa<MemRefType>(copy.getSource().getType()) &&
         isa<MemRefType>(copy.getTarget().getType()) &&
         (isStrided(copy.getSource()) || isStrided(copy.getTarget()));
}

class R2QGPUStridedCopiesPass
    : public impl::R2QGPUStridedCopiesPassBase<R2QGPUStridedCopiesPass> {
public:
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp copy) {
      if (isStridedHostCopy(copy))
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies) {
      OpBuilder builder(copy);
      linalg::CopyOp::create(builder, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      copy->erase();
    }
  }
};

} // namespace
} // namespace r2q
