//===- R2QToLinalg.cpp - Lowering r2q to linalg ---------------------------===//
//
// Loop names used below: n output feature, g group, b byte within a group,
// j bit within a byte (k = g * G + 8 * b + j), e element within a group.
//
//===----------------------------------------------------------------------===//

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"
#include "r2q/Conversion/Passes.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"

namespace r2q {
#define GEN_PASS_DEF_CONVERTR2QTOLINALGPASS
#include "r2q/Conversion/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

using utils::IteratorType;
constexpr IteratorType kParallel = IteratorType::parallel;
constexpr IteratorType kReduction = IteratorType::reduction;

//===----------------------------------------------------------------------===//
// Tensor plumbing
//===----------------------------------------------------------------------===//

/// Plane `plane` of a P x N x X stack, as an N x X tensor.
Value extractPlane(OpBuilder &builder, Location loc, Value stack,
                   int64_t plane) {
  auto type = cast<RankedTensorType>(stack.getType());
  SmallVector<OpFoldResult> offsets = {builder.getIndexAttr(plane),
                                       builder.getIndexAttr(0),
                                       builder.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {
      builder.getIndexAttr(1), tensor::getMixedSize(builder, loc, stack, 1),
      tensor::getMixedSize(builder, loc, stack, 2)};
  SmallVector<OpFoldResult> strides(3, builder.getIndexAttr(1));
  auto planeType = RankedTensorType::get(type.getShape().drop_front(),
                                         type.getElementType());
  return tensor::ExtractSliceOp::create(builder, loc, planeType, stack, offsets,
                                        sizes, strides);
}

/// Splits the last dimension of `value` into `factors` (whose product is
/// that dimension).
Value splitLastDim(OpBuilder &builder, Location loc, Value value,
                   ArrayRef<int64_t> factors) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t rank = type.getRank();
  SmallVector<ReassociationIndices> groups;
  for (int64_t dim = 0; dim + 1 < rank; ++dim)
    groups.push_back({dim});
  ReassociationIndices last;
  for (size_t i = 0; i < factors.size(); ++i)
    last.push_back(rank - 1 + i);
  groups.push_back(last);

  SmallVector<int64_t> shape(type.getShape().drop_back());
  llvm::append_range(shape, factors);
  SmallVector<OpFoldResult> outputShape =
      tensor::getMixedSizes(builder, loc, value);
  outputShape.pop_back();
  for (int64_t factor : factors)
    outputShape.push_back(builder.getIndexAttr(factor));
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExpandShapeOp::create(builder, loc, resultType, value, groups,
                                       outputShape);
}

/// Merges the dimension groups `groups` of `value`.
Value mergeDims(OpBuilder &builder, Location loc, Value value,
                ArrayRef<ReassociationIndices> groups) {
  return tensor::CollapseShapeOp::create(builder, loc, value, groups);
}

/// An empty tensor of `shape` (dynamic entries taken from `dynamicSizes`
/// in order) and `elementType`.
Value emptyTensor(OpBuilder &builder, Location loc, ArrayRef<int64_t> shape,
                  Type elementType, ValueRange dynamicSizes = {}) {
  return tensor::EmptyOp::create(
      builder, loc, RankedTensorType::get(shape, elementType), dynamicSizes);
}

/// `tensor` filled with zeros of its element type.
Value zeroFilled(OpBuilder &builder, Location loc, Value tensor) {
  Type elementType = cast<RankedTensorType>(tensor.getType()).getElementType();
  Value zero =
      arith::ConstantOp::create(builder, loc, builder.getZeroAttr(elementType));
  return linalg::FillOp::create(builder, loc, zero, tensor).getResult(0);
}

/// The dynamic size of dimension `dim` of `value`, if it has one.
void appendIfDynamic(OpBuilder &builder, Location loc, Value value, int64_t dim,
                     SmallVectorImpl<Value> &sizes) {
  if (cast<RankedTensorType>(value.getType()).isDynamicDim(dim))
    sizes.push_back(tensor::DimOp::create(builder, loc, value, dim));
}

/// Converts a float scalar to `type` (extf or truncf; nothing if equal).
Value convertFloat(OpBuilder &builder, Location loc, Value value, Type type) {
  unsigned from = value.getType().getIntOrFloatBitWidth();
  unsigned to = type.getIntOrFloatBitWidth();
  if (value.getType() == type)
    return value;
  if (from < to || (from == to && type.isF32()))
    return arith::ExtFOp::create(builder, loc, type, value);
  return arith::TruncFOp::create(builder, loc, type, value);
}

/// `value` converted element-wise to `elementType` by a linalg.generic.
Value convertTensor(OpBuilder &builder, Location loc, Value value,
                    Type elementType) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getElementType() == elementType)
    return value;
  SmallVector<Value> dynamicSizes;
  for (int64_t dim = 0; dim < type.getRank(); ++dim)
    appendIfDynamic(builder, loc, value, dim, dynamicSizes);
  Value init =
      emptyTensor(builder, loc, type.getShape(), elementType, dynamicSizes);
  AffineMap identity = builder.getMultiDimIdentityMap(type.getRank());
  return linalg::GenericOp::create(
             builder, loc, init.getType(), value, init,
             ArrayRef<AffineMap>{identity, identity},
             SmallVector<IteratorType>(type.getRank(), kParallel),
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               linalg::YieldOp::create(
                   nested, nestedLoc,
                   convertFloat(nested, nestedLoc, args[0], elementType));
             })
      ->getResult(0);
}

//===----------------------------------------------------------------------===//
// Decoding
//===----------------------------------------------------------------------===//

/// sum_p (bit `bit` of bytes[p] ? -scales[p] : scales[p]) in f32, added to
/// +0.0 in plane order like the numerics core.
Value decodeWeight(OpBuilder &builder, Location loc, ValueRange bytes,
                   ValueRange scales, Value bit) {
  Type f32 = builder.getF32Type();
  Value one = arith::ConstantIntOp::create(builder, loc, 1, 8);
  Value zero = arith::ConstantIntOp::create(builder, loc, 0, 8);
  Value sum =
      arith::ConstantOp::create(builder, loc, builder.getF32FloatAttr(0));
  for (auto [byte, scale] : llvm::zip_equal(bytes, scales)) {
    Value shifted = arith::ShRUIOp::create(builder, loc, byte, bit);
    Value isNegative = arith::CmpIOp::create(
        builder, loc, arith::CmpIPredicate::ne,
        arith::AndIOp::create(builder, loc, shifted, one), zero);
    Value magnitude = convertFloat(builder, loc, scale, f32);
    Value term = arith::SelectOp::create(
        builder, loc, isNegative,
        arith::NegFOp::create(builder, loc, magnitude), magnitude);
    sum = arith::AddFOp::create(builder, loc, sum, term);
  }
  return sum;
}

/// Decodes signs (P x N x K/8) and scales (P x N x K/G) into an N x K tensor
/// of `elementType`, over loops (n, g, b, j): each sign byte is read once and
/// its eight bits decoded by the innermost loop.
Value decodeToFloat(OpBuilder &builder, Location loc, Value signs, Value scales,
                    int64_t groupSize, Type elementType) {
  MLIRContext *context = builder.getContext();
  auto signsType = cast<RankedTensorType>(signs.getType());
  int64_t planes = signsType.getDimSize(0), n = signsType.getDimSize(1);
  int64_t k = 8 * signsType.getDimSize(2);
  int64_t groups = k / groupSize, bytesPerGroup = groupSize / 8;
  AffineExpr dN, dG, dB;
  bindDims(context, dN, dG, dB);
  const unsigned bitLoop = 3;

  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (int64_t plane = 0; plane < planes; ++plane) {
    inputs.push_back(splitLastDim(builder, loc,
                                  extractPlane(builder, loc, signs, plane),
                                  {groups, bytesPerGroup}));
    maps.push_back(AffineMap::get(4, 0, {dN, dG, dB}, context));
  }
  for (int64_t plane = 0; plane < planes; ++plane) {
    inputs.push_back(extractPlane(builder, loc, scales, plane));
    maps.push_back(AffineMap::get(4, 0, {dN, dG}, context));
  }

  SmallVector<Value> dynamicRows;
  appendIfDynamic(builder, loc, signs, 1, dynamicRows);
  Value init = emptyTensor(builder, loc, {n, groups, bytesPerGroup, 8},
                           elementType, dynamicRows);
  maps.push_back(builder.getMultiDimIdentityMap(4));

  Value decoded =
      linalg::GenericOp::create(
          builder, loc, init.getType(), inputs, init, maps,
          SmallVector<IteratorType>(4, kParallel),
          [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
            Value bit = arith::IndexCastOp::create(
                nested, nestedLoc, nested.getI8Type(),
                linalg::IndexOp::create(nested, nestedLoc, bitLoop));
            Value weight =
                decodeWeight(nested, nestedLoc, args.take_front(planes),
                             args.slice(planes, planes), bit);
            linalg::YieldOp::create(
                nested, nestedLoc,
                convertFloat(nested, nestedLoc, weight, elementType));
          })
          ->getResult(0);
  return mergeDims(builder, loc, decoded, {{0}, {1, 2, 3}});
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

struct DequantizeToLinalg : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(DequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value decoded = decodeToFloat(rewriter, op.getLoc(), adaptor.getSigns(),
                                  adaptor.getScales(), op.getGroupSize(),
                                  op.getResult().getType().getElementType());
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, op.getResult().getType(),
                                                decoded);
    return success();
  }
};

/// y[..., n] = sum_k x[..., k] * w[n][k] over loops (..., n, k). The weight
/// is decoded N x K, reading each sign byte once with the bit loop innermost;
/// the reduction over K reads x and w contiguously and is marked
/// reassociable so that it vectorizes (the sum is still accumulated in f32).
struct MatmulToLinalg : OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Type f32 = rewriter.getF32Type();
    Value x = adaptor.getInput();
    Value signs = adaptor.getSigns();
    RankedTensorType resultType = op.getResult().getType();
    int64_t rank = resultType.getRank();

    Value weight = decodeToFloat(rewriter, loc, signs, adaptor.getScales(),
                                 op.getGroupSize(), f32);

    SmallVector<Value> dynamicSizes;
    for (int64_t dim = 0; dim + 1 < rank; ++dim)
      appendIfDynamic(rewriter, loc, x, dim, dynamicSizes);
    appendIfDynamic(rewriter, loc, signs, 1, dynamicSizes);
    SmallVector<int64_t> shape(cast<RankedTensorType>(x.getType()).getShape());
    shape.back() = cast<RankedTensorType>(signs.getType()).getDimSize(1);
    Value accumulator = zeroFilled(
        rewriter, loc, emptyTensor(rewriter, loc, shape, f32, dynamicSizes));

    // Loops: the batch and row dims of x, then n, then k.
    unsigned loops = rank + 1, nLoop = rank - 1, kLoop = rank;
    SmallVector<AffineExpr> leading;
    for (int64_t dim = 0; dim + 1 < rank; ++dim)
      leading.push_back(getAffineDimExpr(dim, context));
    auto withLast = [&](ArrayRef<AffineExpr> prefix, unsigned loop) {
      SmallVector<AffineExpr> results(prefix);
      results.push_back(getAffineDimExpr(loop, context));
      return AffineMap::get(loops, 0, results, context);
    };
    SmallVector<AffineMap> maps = {
        withLast(leading, kLoop),
        AffineMap::get(loops, 0,
                       {getAffineDimExpr(nLoop, context),
                        getAffineDimExpr(kLoop, context)},
                       context),
        withLast(leading, nLoop)};
    SmallVector<IteratorType> iterators(loops, kParallel);
    iterators[kLoop] = kReduction;
    auto reassociable = arith::FastMathFlagsAttr::get(
        context,
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);

    Value product =
        linalg::GenericOp::create(
            rewriter, loc, accumulator.getType(), ValueRange{x, weight},
            accumulator, maps, iterators,
            [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
              Value activation = convertFloat(nested, nestedLoc, args[0], f32);
              Value term = arith::MulFOp::create(nested, nestedLoc, activation,
                                                 args[1], reassociable);
              linalg::YieldOp::create(nested, nestedLoc,
                                      arith::AddFOp::create(nested, nestedLoc,
                                                            args[2], term,
                                                            reassociable)
                                          .getResult());
            })
            ->getResult(0);
    Value result =
        convertTensor(rewriter, loc, product, resultType.getElementType());
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, resultType, result);
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

class ConvertR2QToLinalgPass
    : public impl::ConvertR2QToLinalgPassBase<ConvertR2QToLinalgPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    // Refined quantization exists only in the numerics core: a runtime weight
    // asking for it cannot be lowered.
    WalkResult unsupported = getOperation()->walk([](QuantizeOp op) {
      if (op.getScheme().getMethod() == Method::Greedy)
        return WalkResult::advance();
      op.emitOpError("with method = refined cannot run on a weight only "
                     "known at run time; make the weight a constant so that "
                     "it folds, or use method = greedy");
      return WalkResult::interrupt();
    });
    if (unsupported.wasInterrupted())
      return signalPassFailure();

    ConversionTarget target(getContext());
    configureR2QToLinalgTarget(target);
    RewritePatternSet patterns(&getContext());
    populateR2QToLinalgConversionPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void populateR2QToLinalgConversionPatterns(RewritePatternSet &patterns) {
  patterns.add<DequantizeToLinalg, MatmulToLinalg, ResidualToLinalg>(
      patterns.getContext());
  populateDecomposeQuantizePatterns(patterns);
}

void configureR2QToLinalgTarget(ConversionTarget &target) {
  target.addIllegalDialect<R2QDialect>();
  target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                         math::MathDialect, tensor::TensorDialect>();
}

} // namespace r2q
