//===- QuantizationToLinalg.cpp - r2q.dequantize and r2q.residual ---------===//

#include "Decoding.h"
#include "TensorBuilders.h"

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace r2q::lowering;

namespace r2q {
namespace {

struct DequantizeToLinalg : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(DequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    PlaneRows planes = allPlaneRows(rewriter, loc, adaptor.getSigns(),
                                    adaptor.getScales(), op.getGroupSize());
    Value decoded = decodeToFloat(rewriter, loc, planes,
                                  op.getResult().getType().getElementType());
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, op.getResult().getType(),
                                                decoded);
    return success();
  }
};

/// One greedy stage, bit for bit as the numerics core computes it.
struct ResidualToLinalg : OpConversionPattern<ResidualOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ResidualOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Type f32 = rewriter.getF32Type(), f64 = rewriter.getF64Type();
    Type i8 = rewriter.getI8Type();
    Value input = adaptor.getResidual();
    auto inputType = cast<RankedTensorType>(input.getType());
    int64_t n = inputType.getDimSize(0), k = inputType.getDimSize(1);
    int64_t groupSize = op.getGroupSize(), groups = k / groupSize;
    Type scaleType = op.getScales().getType().getElementType();
    SmallVector<Value> dynamicRows;
    appendIfDynamic(rewriter, loc, input, 0, dynamicRows);

    AffineExpr d0, d1, d2;
    bindDims(context, d0, d1, d2);
    auto map3 = [&](ArrayRef<AffineExpr> results) {
      return AffineMap::get(3, 0, results, context);
    };
    Value zeroF32 =
        arith::ConstantOp::create(rewriter, loc, rewriter.getF32FloatAttr(0));

    // sum_e |r[n][g][e]| in f64, over loops (n, g, e).
    Value grouped = splitLastDim(rewriter, loc, input, {groups, groupSize});
    Value sums =
        linalg::GenericOp::create(
            rewriter, loc, RankedTensorType::get({n, groups}, f64), grouped,
            zeroFilled(
                rewriter, loc,
                emptyTensor(rewriter, loc, {n, groups}, f64, dynamicRows)),
            ArrayRef<AffineMap>{map3({d0, d1, d2}), map3({d0, d1})},
            ArrayRef<IteratorType>{kParallel, kParallel, kReduction},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value element = convertFloat(b, l, args[0], f32);
              Value magnitude = arith::ExtFOp::create(
                  b, l, f64, math::AbsFOp::create(b, l, element).getResult());
              linalg::YieldOp::create(
                  b, l,
                  arith::AddFOp::create(b, l, args[1], magnitude).getResult());
            })
            ->getResult(0);

    // scale = round_to_scale_type(f32(sum / G)), also kept as f32.
    AffineMap identity2 = rewriter.getMultiDimIdentityMap(2);
    Value groupSizeF64 = arith::ConstantOp::create(
        rewriter, loc, rewriter.getF64FloatAttr(groupSize));
    auto scaleOp = linalg::GenericOp::create(
        rewriter, loc,
        TypeRange{RankedTensorType::get({n, groups}, scaleType),
                  RankedTensorType::get({n, groups}, f32)},
        sums,
        ValueRange{
            emptyTensor(rewriter, loc, {n, groups}, scaleType, dynamicRows),
            emptyTensor(rewriter, loc, {n, groups}, f32, dynamicRows)},
        ArrayRef<AffineMap>{identity2, identity2, identity2},
        ArrayRef<IteratorType>{kParallel, kParallel},
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value mean = arith::TruncFOp::create(
              b, l, f32, arith::DivFOp::create(b, l, args[0], groupSizeF64));
          Value stored = convertFloat(b, l, mean, scaleType);
          linalg::YieldOp::create(
              b, l, ValueRange{stored, convertFloat(b, l, stored, f32)});
        });

    // Sign bytes: or of (r < 0) << j over loops (n, byte, j).
    Value bytes = splitLastDim(rewriter, loc, input, {k / 8, 8});
    Value signs =
        linalg::GenericOp::create(
            rewriter, loc, RankedTensorType::get({n, k / 8}, i8), bytes,
            zeroFilled(rewriter, loc,
                       emptyTensor(rewriter, loc, {n, k / 8}, i8, dynamicRows)),
            ArrayRef<AffineMap>{map3({d0, d1, d2}), map3({d0, d1})},
            ArrayRef<IteratorType>{kParallel, kParallel, kReduction},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value element = convertFloat(b, l, args[0], f32);
              Value isNegative = arith::CmpFOp::create(
                  b, l, arith::CmpFPredicate::OLT, element, zeroF32);
              Value bit = arith::ShLIOp::create(
                  b, l, arith::ExtUIOp::create(b, l, i8, isNegative),
                  arith::IndexCastOp::create(b, l, i8,
                                             linalg::IndexOp::create(b, l, 2)));
              linalg::YieldOp::create(
                  b, l, arith::OrIOp::create(b, l, args[1], bit).getResult());
            })
            ->getResult(0);

    // next = r - (r < 0 ? -a : a) over loops (n, g, e).
    Type nextType = op.getNext().getType().getElementType();
    Value next =
        linalg::GenericOp::create(
            rewriter, loc,
            RankedTensorType::get({n, groups, groupSize}, nextType),
            ValueRange{grouped, scaleOp.getResult(1)},
            emptyTensor(rewriter, loc, {n, groups, groupSize}, nextType,
                        dynamicRows),
            ArrayRef<AffineMap>{map3({d0, d1, d2}), map3({d0, d1}),
                                map3({d0, d1, d2})},
            ArrayRef<IteratorType>{kParallel, kParallel, kParallel},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value element = convertFloat(b, l, args[0], f32);
              Value isNegative = arith::CmpFOp::create(
                  b, l, arith::CmpFPredicate::OLT, element, zeroF32);
              Value contribution = arith::SelectOp::create(
                  b, l, isNegative, arith::NegFOp::create(b, l, args[1]),
                  args[1]);
              Value rest = arith::SubFOp::create(b, l, element, contribution);
              linalg::YieldOp::create(b, l, convertFloat(b, l, rest, nextType));
            })
            ->getResult(0);

    rewriter.replaceOp(
        op,
        {tensor::CastOp::create(rewriter, loc, op.getSigns().getType(), signs),
         tensor::CastOp::create(rewriter, loc, op.getScales().getType(),
                                scaleOp.getResult(0)),
         mergeDims(rewriter, loc, next, {{0}, {1, 2}})});
    return success();
  }
};

} // namespace

void populateQuantizationToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<DequantizeToLinalg, ResidualToLinalg>(patterns.getContext());
}

} // namespace r2q
