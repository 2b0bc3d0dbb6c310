//===- DecomposeQuantize.cpp - r2q.quantize into r2q.residual stages ------===//

#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace r2q {
#define GEN_PASS_DEF_R2QDECOMPOSEQUANTIZEPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// `value` converted element-wise to f32 (a linalg.generic of arith.extf), or
/// `value` itself when it already is f32.
Value extendToF32(OpBuilder &builder, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getElementType().isF32())
    return value;
  auto f32Type = type.clone(builder.getF32Type());
  Value init = tensor::EmptyOp::create(
      builder, loc, tensor::getMixedSizes(builder, loc, value),
      builder.getF32Type());
  AffineMap identity = builder.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> parallel(type.getRank(),
                                            utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             builder, loc, f32Type, value, init,
             ArrayRef<AffineMap>{identity, identity}, parallel,
             [](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               Value extended = arith::ExtFOp::create(
                   nested, nestedLoc, nested.getF32Type(), args[0]);
               linalg::YieldOp::create(nested, nestedLoc, extended);
             })
      ->getResult(0);
}

/// Inserts `slice` (rows x cols) as plane `plane` of `stack`
/// (planes x rows x cols).
Value insertPlane(OpBuilder &builder, Location loc, Value slice, Value stack,
                  int64_t plane) {
  SmallVector<OpFoldResult> offsets = {builder.getIndexAttr(plane),
                                       builder.getIndexAttr(0),
                                       builder.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {builder.getIndexAttr(1)};
  for (int64_t dim = 1; dim < 3; ++dim)
    sizes.push_back(tensor::getMixedSize(builder, loc, stack, dim));
  SmallVector<OpFoldResult> strides(3, builder.getIndexAttr(1));
  return tensor::InsertSliceOp::create(builder, loc, slice, stack, offsets,
                                       sizes, strides);
}

struct DecomposeGreedyQuantize : OpRewritePattern<QuantizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(QuantizeOp op,
                                PatternRewriter &rewriter) const override {
    SchemeAttr scheme = op.getScheme();
    if (scheme.getMethod() != Method::Greedy)
      return rewriter.notifyMatchFailure(op, "only greedy has 1-bit stages");
    Location loc = op.getLoc();
    RankedTensorType signsType = op.getSigns().getType();
    RankedTensorType scalesType = op.getScales().getType();

    // Dynamic N is carried by the weight.
    SmallVector<Value> dynamicRows;
    if (signsType.isDynamicDim(1))
      dynamicRows.push_back(
          tensor::DimOp::create(rewriter, loc, op.getWeight(), 0));
    Value signs =
        tensor::EmptyOp::create(rewriter, loc, signsType, dynamicRows);
    Value scales =
        tensor::EmptyOp::create(rewriter, loc, scalesType, dynamicRows);

    Value residual = extendToF32(rewriter, loc, op.getWeight());
    auto planeType = [](RankedTensorType stacked) {
      return RankedTensorType::get(stacked.getShape().drop_front(),
                                   stacked.getElementType());
    };
    for (int64_t plane = 0; plane < scheme.getPlanes(); ++plane) {
      auto stage = ResidualOp::create(rewriter, loc, planeType(signsType),
                                      planeType(scalesType), residual.getType(),
                                      residual, scheme.getGroupSize());
      signs = insertPlane(rewriter, loc, stage.getSigns(), signs, plane);
      scales = insertPlane(rewriter, loc, stage.getScales(), scales, plane);
      residual = stage.getNext();
    }
    rewriter.replaceOp(op, {signs, scales});
    return success();
  }
};

class DecomposeQuantizePass
    : public impl::R2QDecomposeQuantizePassBase<DecomposeQuantizePass> {
public:
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateDecomposeQuantizePatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace

void populateDecomposeQuantizePatterns(RewritePatternSet &patterns) {
  patterns.add<DecomposeGreedyQuantize>(patterns.getContext());
}

} // namespace r2q
