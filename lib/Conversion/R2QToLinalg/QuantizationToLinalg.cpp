//===- QuantizationToLinalg.cpp - r2q.dequantize and r2q.residual ---------===//

#include "Decoding.h"
#include "TensorBuilders.h"

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Quant/Scheme.h"

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
    RankedTensorType resultType = op.getResult().getType();
    SmallVector<PlaneRows> planes =
        allPlaneRows(rewriter, loc, adaptor.getSigns(), adaptor.getScales(),
                     op.getGroupSize(), resultType.getDimSize(1));
    Value decoded =
        decodeToFloat(rewriter, loc, planes, resultType.getElementType());
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, resultType, decoded);
    return success();
  }
};

/// A map from three loops ((n, g, e) or (n, byte, j)) to `loops` of them.
AffineMap mapOfThree(MLIRContext *context, ArrayRef<unsigned> loops) {
  SmallVector<AffineExpr> results;
  for (unsigned loop : loops)
    results.push_back(getAffineDimExpr(loop, context));
  return AffineMap::get(3, 0, results, context);
}

/// In a loop body: whether a residual element, in f32, is negative
/// (sign(0) = +1).
Value isNegative(OpBuilder &builder, Location loc, Value element) {
  Value zero =
      arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0));
  return arith::CmpFOp::create(
      builder, loc, arith::CmpFPredicate::OLT,
      convertFloat(builder, loc, element, builder.getF32Type()), zero);
}

/// The sizes of a dynamic row count of `value`, for empty tensors.
SmallVector<Value> dynamicRowsOf(OpBuilder &builder, Location loc,
                                 Value value) {
  SmallVector<Value> dynamicRows;
  appendIfDynamic(builder, loc, value, 0, dynamicRows);
  return dynamicRows;
}

/// sum_e |r[n][g][e]| in f64 of an N x groups x length residual, over loops
/// (n, g, e).
Value sumOfMagnitudes(OpBuilder &builder, Location loc, Value grouped) {
  auto type = cast<RankedTensorType>(grouped.getType());
  MLIRContext *context = builder.getContext();
  Type f64 = builder.getF64Type();
  Value init =
      zeroFilled(builder, loc,
                 emptyTensor(builder, loc, type.getShape().drop_back(), f64,
                             dynamicRowsOf(builder, loc, grouped)));
  return linalg::GenericOp::create(
             builder, loc, init.getType(), grouped, init,
             ArrayRef<AffineMap>{mapOfThree(context, {0, 1, 2}),
                                 mapOfThree(context, {0, 1})},
             ArrayRef<IteratorType>{kParallel, kParallel, kReduction},
             [&](OpBuilder &b, Location l, ValueRange args) {
               Value element = convertFloat(b, l, args[0], b.getF32Type());
               Value magnitude = arith::ExtFOp::create(
                   b, l, f64, math::AbsFOp::create(b, l, element).getResult());
               linalg::YieldOp::create(
                   b, l,
                   arith::AddFOp::create(b, l, args[1], magnitude).getResult());
             })
      ->getResult(0);
}

/// scale = round_to_scale_type(f32(sum / length)), as the scale type
/// (result 0) and as f32 (result 1).
linalg::GenericOp meanScales(OpBuilder &builder, Location loc, Value sums,
                             int64_t length, Type scaleType) {
  auto type = cast<RankedTensorType>(sums.getType());
  Type f32 = builder.getF32Type();
  SmallVector<Value> dynamicRows = dynamicRowsOf(builder, loc, sums);
  AffineMap identity = builder.getMultiDimIdentityMap(2);
  Value lengthF64 =
      arith::ConstantOp::create(builder, loc, builder.getF64FloatAttr(length));
  return linalg::GenericOp::create(
      builder, loc, TypeRange{type.clone(scaleType), type.clone(f32)}, sums,
      ValueRange{
          emptyTensor(builder, loc, type.getShape(), scaleType, dynamicRows),
          emptyTensor(builder, loc, type.getShape(), f32, dynamicRows)},
      ArrayRef<AffineMap>{identity, identity, identity},
      ArrayRef<IteratorType>{kParallel, kParallel},
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value mean = arith::TruncFOp::create(
            b, l, f32, arith::DivFOp::create(b, l, args[0], lengthF64));
        Value stored = convertFloat(b, l, mean, scaleType);
        linalg::YieldOp::create(
            b, l, ValueRange{stored, convertFloat(b, l, stored, f32)});
      });
}

/// next = r - (r < 0 ? -a : a) of an N x groups x length residual and its
/// f32 scales, over loops (n, g, e), as N x (groups * length).
Value nextResidual(OpBuilder &builder, Location loc, Value grouped,
                   Value scales, Type nextType) {
  auto type = cast<RankedTensorType>(grouped.getType());
  MLIRContext *context = builder.getContext();
  Value next =
      linalg::GenericOp::create(
          builder, loc, type.clone(nextType), ValueRange{grouped, scales},
          emptyTensor(builder, loc, type.getShape(), nextType,
                      dynamicRowsOf(builder, loc, grouped)),
          ArrayRef<AffineMap>{mapOfThree(context, {0, 1, 2}),
                              mapOfThree(context, {0, 1}),
                              mapOfThree(context, {0, 1, 2})},
          ArrayRef<IteratorType>{kParallel, kParallel, kParallel},
          [&](OpBuilder &b, Location l, ValueRange args) {
            Value element = convertFloat(b, l, args[0], b.getF32Type());
            Value contribution = arith::SelectOp::create(
                b, l, isNegative(b, l, element),
                arith::NegFOp::create(b, l, args[1]), args[1]);
            Value rest = arith::SubFOp::create(b, l, element, contribution);
            linalg::YieldOp::create(b, l, convertFloat(b, l, rest, nextType));
          })
          ->getResult(0);
  return mergeDims(builder, loc, next, {{0}, {1, 2}});
}

/// Scales and next residual of a column span of a residual.
struct StageSpan {
  Value scales;
  Value next;
};

/// One greedy stage over one column span of groups of `groupSize`, bit for
/// bit as the numerics core computes it: the mean is taken over the span's
/// own group length, so a shorter last group is quantized as a group of its
/// own size.
StageSpan residualSpan(OpBuilder &builder, Location loc, Value input,
                       int64_t groupSize, ColumnSpan span, Type scaleType,
                       Type nextType) {
  Value grouped = splitLastDim(builder, loc,
                               sliceColumns(builder, loc, input,
                                            span.firstGroup * groupSize,
                                            span.groups * span.length),
                               {span.groups, span.length});
  linalg::GenericOp scales =
      meanScales(builder, loc, sumOfMagnitudes(builder, loc, grouped),
                 span.length, scaleType);
  return {scales.getResult(0),
          nextResidual(builder, loc, grouped, scales.getResult(1), nextType)};
}

/// Sign bytes of an N x K residual: or of (r < 0) << j over loops
/// (n, byte, j). Columns past K (the last byte's padding) count as +0, so
/// their bits are zero.
Value packNegatives(OpBuilder &builder, Location loc, Value input) {
  Type i8 = builder.getI8Type();
  auto inputType = cast<RankedTensorType>(input.getType());
  int64_t n = inputType.getDimSize(0);
  int64_t bytes = quant::packedBytesPerRow(inputType.getDimSize(1));
  MLIRContext *context = builder.getContext();
  Value byBytes = splitLastDim(
      builder, loc, padColumns(builder, loc, input, 8 * bytes), {bytes, 8});
  Value init = zeroFilled(builder, loc,
                          emptyTensor(builder, loc, {n, bytes}, i8,
                                      dynamicRowsOf(builder, loc, input)));
  return linalg::GenericOp::create(
             builder, loc, init.getType(), byBytes, init,
             ArrayRef<AffineMap>{mapOfThree(context, {0, 1, 2}),
                                 mapOfThree(context, {0, 1})},
             ArrayRef<IteratorType>{kParallel, kParallel, kReduction},
             [&](OpBuilder &b, Location l, ValueRange args) {
               Value bit = arith::ShLIOp::create(
                   b, l,
                   arith::ExtUIOp::create(b, l, i8, isNegative(b, l, args[0])),
                   arith::IndexCastOp::create(
                       b, l, i8, linalg::IndexOp::create(b, l, 2)));
               linalg::YieldOp::create(
                   b, l, arith::OrIOp::create(b, l, args[1], bit).getResult());
             })
      ->getResult(0);
}

/// One greedy stage: the whole groups, then a shorter last group when the
/// group size does not divide K.
struct ResidualToLinalg : OpConversionPattern<ResidualOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ResidualOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getResidual();
    int64_t k = cast<RankedTensorType>(input.getType()).getDimSize(1);
    int64_t groupSize = op.getGroupSize();
    Type scaleType = op.getScales().getType().getElementType();
    Type nextType = op.getNext().getType().getElementType();

    SmallVector<Value> scales, next;
    for (ColumnSpan columns : columnSpans(k, groupSize)) {
      StageSpan span = residualSpan(rewriter, loc, input, groupSize, columns,
                                    scaleType, nextType);
      scales.push_back(span.scales);
      next.push_back(span.next);
    }
    Value signs = packNegatives(rewriter, loc, input);
    rewriter.replaceOp(
        op,
        {tensor::CastOp::create(rewriter, loc, op.getSigns().getType(), signs),
         tensor::CastOp::create(rewriter, loc, op.getScales().getType(),
                                concatColumns(rewriter, loc, scales)),
         concatColumns(rewriter, loc, next)});
    return success();
  }
};

} // namespace

void populateQuantizationToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<DequantizeToLinalg, ResidualToLinalg>(patterns.getContext());
}

} // namespace r2q
