//===- ExpandShapesToReinterpretCasts.cpp - Work around #186830 -----------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace r2q {
#define GEN_PASS_DEF_R2QEXPANDSHAPESTOREINTERPRETCASTSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// Whether some reassociation group of `op` has several dynamic sizes.
bool splitsIntoSeveralDynamicSizes(memref::ExpandShapeOp op) {
  MemRefType resultType = op.getResultType();
  return llvm::any_of(op.getReassociationIndices(),
                      [&](const ReassociationIndices &group) {
                        return llvm::count_if(group, [&](int64_t dim) {
                                 return resultType.isDynamicDim(dim);
                               }) > 1;
                      });
}

struct ExpandShapeToReinterpretCast : OpRewritePattern<memref::ExpandShapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(memref::ExpandShapeOp op,
                                PatternRewriter &rewriter) const override {
    if (!splitsIntoSeveralDynamicSizes(op))
      return rewriter.notifyMatchFailure(op, "upstream handles this expand");
    Location loc = op.getLoc();
    auto metadata =
        memref::ExtractStridedMetadataOp::create(rewriter, loc, op.getSrc());
    SmallVector<OpFoldResult> sizes = op.getMixedOutputShape();
    SmallVector<OpFoldResult> strides(sizes.size());
    AffineExpr product, factor;
    bindSymbols(rewriter.getContext(), product, factor);
    for (auto [sourceDim, group] :
         llvm::enumerate(op.getReassociationIndices())) {
      OpFoldResult stride = metadata.getConstifiedMixedStrides()[sourceDim];
      for (int64_t dim : llvm::reverse(group)) {
        strides[dim] = stride;
        if (dim != group.front())
          stride = affine::makeComposedFoldedAffineApply(
              rewriter, loc, product * factor, {stride, sizes[dim]});
      }
    }
    rewriter.replaceOpWithNewOp<memref::ReinterpretCastOp>(
        op, op.getResultType(), metadata.getBaseBuffer(),
        metadata.getConstifiedMixedOffset(), sizes, strides);
    return success();
  }
};

class ExpandShapesToReinterpretCastsPass
    : public impl::R2QExpandShapesToReinterpretCastsPassBase<
          ExpandShapesToReinterpretCastsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpandShapeToReinterpretCast>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
} // namespace r2q
