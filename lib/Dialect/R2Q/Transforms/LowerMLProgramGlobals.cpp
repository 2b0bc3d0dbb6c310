//===- LowerMLProgramGlobals.cpp - ml_program globals to memref
//------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace r2q {
#define GEN_PASS_DEF_R2QLOWERMLPROGRAMGLOBALSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// The memref a global of `type` lives in.
MemRefType bufferTypeOf(RankedTensorType type) {
  return MemRefType::get(type.getShape(), type.getElementType());
}

/// `ml_program.global` -> `memref.global` of the same name and value.
LogicalResult lowerGlobal(IRRewriter &rewriter, ml_program::GlobalOp global) {
  auto type = dyn_cast<RankedTensorType>(global.getType());
  auto value = dyn_cast_if_present<ElementsAttr>(global.getValueAttr());
  if (!type || !type.hasStaticShape() || !value)
    return global.emitError()
           << "r2q-cpu-pipeline compiles ml_program globals of static tensor "
              "type with an initial value only";
  rewriter.setInsertionPoint(global);
  memref::GlobalOp::create(
      rewriter, global.getLoc(), global.getSymName(),
      rewriter.getStringAttr(global.isPrivate() ? "private" : "public"),
      bufferTypeOf(type), value, /*constant=*/!global.getIsMutable(),
      /*alignment=*/IntegerAttr());
  rewriter.eraseOp(global);
  return success();
}

/// The global's buffer, read as a tensor: in place when it is constant, as a
/// copy when later stores may change it.
Value loadGlobal(IRRewriter &rewriter, Location loc, SymbolRefAttr name,
                 RankedTensorType type, bool isConstant) {
  MemRefType bufferType = bufferTypeOf(type);
  Value buffer = memref::GetGlobalOp::create(rewriter, loc, bufferType,
                                             name.getLeafReference());
  if (!isConstant) {
    Value copy = memref::AllocOp::create(rewriter, loc, bufferType);
    memref::CopyOp::create(rewriter, loc, buffer, copy);
    buffer = copy;
  }
  return bufferization::ToTensorOp::create(rewriter, loc, type, buffer,
                                           /*restrict=*/true,
                                           /*writable=*/!isConstant);
}

class LowerMLProgramGlobalsPass
    : public impl::R2QLowerMLProgramGlobalsPassBase<LowerMLProgramGlobalsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    bool failedGlobal = false;
    getOperation()->walk([&](Operation *op) {
      rewriter.setInsertionPoint(op);
      if (auto load = dyn_cast<ml_program::GlobalLoadConstOp>(op)) {
        rewriter.replaceOp(
            load, loadGlobal(rewriter, load.getLoc(), load.getGlobalAttr(),
                             cast<RankedTensorType>(load.getType()), true));
      } else if (auto load = dyn_cast<ml_program::GlobalLoadOp>(op)) {
        rewriter.replaceOp(
            load, loadGlobal(rewriter, load.getLoc(), load.getGlobalAttr(),
                             cast<RankedTensorType>(load.getType()), false));
      } else if (auto store = dyn_cast<ml_program::GlobalStoreOp>(op)) {
        auto type = cast<RankedTensorType>(store.getValue().getType());
        Value buffer = memref::GetGlobalOp::create(
            rewriter, store.getLoc(), bufferTypeOf(type),
            store.getGlobalAttr().getLeafReference());
        bufferization::MaterializeInDestinationOp::create(
            rewriter, store.getLoc(), TypeRange{}, store.getValue(), buffer,
            /*restrict=*/false, /*writable=*/true);
        rewriter.eraseOp(store);
      }
    });
    for (auto global : llvm::make_early_inc_range(
             getOperation().getOps<ml_program::GlobalOp>()))
      failedGlobal |= failed(lowerGlobal(rewriter, global));
    if (failedGlobal)
      signalPassFailure();
  }
};

} // namespace
} // namespace r2q
