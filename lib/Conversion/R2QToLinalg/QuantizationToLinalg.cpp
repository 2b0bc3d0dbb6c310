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

/// Scales (in the scale type and in f32) and next residual of `groups`
/// groups of `length` columns of a residual, starting at column `first`.
struct StageSpan {
  Value scales;
  Value scalesF32;
  Value next;
};

/// One greedy stage over one column span, bit for bit as the numerics core
/// computes it: the mean is taken over the span's own `length` columns, so a
/// shorter last group is quantized as a group of its own size.
StageSpan residualSpan(OpBuilder &builder, Location loc, Value input,
                       int64_t first, int64_t groups, int64_t length,
                       Type scaleType, Type nextType) {
  MLIRContext *context = builder.getContext();
  Type f32 = builder.getF32Type(), f64 = builder.getF64Type();
  int64_t n = cast<RankedTensorType>(input.getType()).getDimSize(0);
  SmallVector<Value> dynamicRows;
  appendIfDynamic(builder, loc, input, 0, dynamicRows);
  AffineExpr d0, d1, d2;
  bindDims(context, d0, d1, d2);
  auto map3 = [&](ArrayRef<AffineExpr> results) {
    return AffineMap::get(3, 0, results, context);
  };
  Value zeroF32 =
      arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0));

  // sum_e |r[n][g][e]| in f64, over loops (n, g, e).
  Value grouped = splitLastDim(
      builder, loc, sliceColumns(builder, loc, input, first, groups * length),
      {groups, length});
  Value sums =
      linalg::GenericOp::create(
          builder, loc, RankedTensorType::get({n, groups}, f64), grouped,
          zeroFilled(builder, loc,
                     emptyTensor(builder, loc, {n, groups}, f64, dynamicRows)),
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

  // scale = round_to_scale_type(f32(sum / length)), also kept as f32.
  AffineMap identity2 = builder.getMultiDimIdentityMap(2);
  Value lengthF64 =
      arith::ConstantOp::create(builder, loc, builder.getF64FloatAttr(length));
  auto scaleOp = linalg::GenericOp::create(
      builder, loc,
      TypeRange{RankedTensorType::get({n, groups}, scaleType),
                RankedTensorType::get({n, groups}, f32)},
      sums,
      ValueRange{emptyTensor(builder, loc, {n, groups}, scaleType, dynamicRows),
                 emptyTensor(builder, loc, {n, groups}, f32, dynamicRows)},
      ArrayRef<AffineMap>{identity2, identity2, identity2},
      ArrayRef<IteratorType>{kParallel, kParallel},
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value mean = arith::TruncFOp::create(
            b, l, f32, arith::DivFOp::create(b, l, args[0], lengthF64));
        Value stored = convertFloat(b, l, mean, scaleType);
        linalg::YieldOp::create(
            b, l, ValueRange{stored, convertFloat(b, l, stored, f32)});
      });

  // next = r - (r < 0 ? -a : a) over loops (n, g, e).
  Value next =
      linalg::GenericOp::create(
          builder, loc, RankedTensorType::get({n, groups, length}, nextType),
          ValueRange{grouped, scaleOp.getResult(1)},
          emptyTensor(builder, loc, {n, groups, length}, nextType, dynamicRows),
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
  return {scaleOp.getResult(0), scaleOp.getResult(1),
          mergeDims(builder, loc, next, {{0}, {1, 2}})};
}

/// Sign bytes of an N x K residual: or of (r < 0) << j over loops
/// (n, byte, j). Columns past K (the last byte's padding) count as +0, so
/// their bits are zero.
Value packNegatives(OpBuilder &builder, Location loc, Value input) {
  MLIRContext *context = builder.getContext();
  Type f32 = builder.getF32Type(), i8 = builder.getI8Type();
  auto inputType = cast<RankedTensorType>(input.getType());
  int64_t n = inputType.getDimSize(0);
  int64_t bytes = quant::packedBytesPerRow(inputType.getDimSize(1));
  SmallVector<Value> dynamicRows;
  appendIfDynamic(builder, loc, input, 0, dynamicRows);
  AffineExpr d0, d1, d2;
  bindDims(context, d0, d1, d2);
  auto map3 = [&](ArrayRef<AffineExpr> results) {
    return AffineMap::get(3, 0, results, context);
  };
  Value zeroF32 =
      arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0));
  Value byBytes = splitLastDim(
      builder, loc, padColumns(builder, loc, input, 8 * bytes), {bytes, 8});
  return linalg::GenericOp::create(
             builder, loc, RankedTensorType::get({n, bytes}, i8), byBytes,
             zeroFilled(builder, loc,
                        emptyTensor(builder, loc, {n, bytes}, i8, dynamicRows)),
             ArrayRef<AffineMap>{map3({d0, d1, d2}), map3({d0, d1})},
             ArrayRef<IteratorType>{kParallel, kParallel, kReduction},
             [&](OpBuilder &b, Location l, ValueRange args) {
               Value element = convertFloat(b, l, args[0], f32);
               Value isNegative = arith::CmpFOp::create(
                   b, l, arith::CmpFPredicate::OLT, element, zeroF32);
               Value bit = arith::ShLIOp::create(
                   b, l, arith::ExtUIOp::create(b, l, i8, isNegative),
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
    int64_t wholeGroups = k / groupSize, lastColumns = k % groupSize;
    Type scaleType = op.getScales().getType().getElementType();
    Type nextType = op.getNext().getType().getElementType();

    SmallVector<StageSpan> spans;
    if (wholeGroups > 0)
      spans.push_back(residualSpan(rewriter, loc, input, 0, wholeGroups,
                                   groupSize, scaleType, nextType));
    if (lastColumns > 0)
      spans.push_back(residualSpan(rewriter, loc, input,
                                   wholeGroups * groupSize, 1, lastColumns,
                                   scaleType, nextType));
    SmallVector<Value> scales, next;
    for (const StageSpan &span : spans) {
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
