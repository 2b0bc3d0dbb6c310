//===- MatmulToLinalg.cpp - r2q.matmul to linalg --------------------------===//
//
// Two strategies, chosen by the number of activation rows M (the product of
// the input's leading dimensions), at compile time when M is static and with
// an scf.if otherwise:
//
//  * M <= kFusedDecodeMaxRows (decoding, GEMV): one linalg.generic over
//    (..., n, g, b, j) decodes each weight inside the reduction; nothing is
//    materialized and each sign byte is read once per row. With vectorGemv,
//    vector ops compute the product from the sign bits instead (Matvec.h).
//  * larger M: the weight is decoded in tiles of rows (at most
//    kDecodedTileBytes of f32 each, so a tile stays in L2) and each tile is
//    contracted with all activation rows, so decoding costs once per weight
//    whatever M is.
//
// Both accumulate in f32 with reductions marked reassoc (vectorizable); a
// f16/bf16 result is rounded at the end. The outliers of dense + sparse R2Q,
// if any, are added to either strategy's f32 product by one shared step
// (SparseProduct.h) before that rounding.
//
//===----------------------------------------------------------------------===//

#include "Decoding.h"
#include "Matvec.h"
#include "SparseProduct.h"
#include "TensorBuilders.h"

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace r2q::lowering;

namespace r2q {
namespace {

constexpr int64_t kFusedDecodeMaxRows = 2;
constexpr int64_t kDecodedTileBytes = 256 * 1024;

/// Maps of a contraction over loops (leading..., rest...) of `loops` loops.
struct LoopSpace {
  MLIRContext *context;
  unsigned leading;
  unsigned loops;

  AffineExpr dim(unsigned loop) const {
    return getAffineDimExpr(loop, context);
  }
  /// (leading..., `extra`...) -> as an indexing map.
  AffineMap withLeading(ArrayRef<unsigned> extra) const {
    SmallVector<AffineExpr> results;
    for (unsigned loop = 0; loop < leading; ++loop)
      results.push_back(dim(loop));
    for (unsigned loop : extra)
      results.push_back(dim(loop));
    return AffineMap::get(loops, 0, results, context);
  }
  AffineMap of(ArrayRef<unsigned> dims) const {
    SmallVector<AffineExpr> results;
    for (unsigned loop : dims)
      results.push_back(dim(loop));
    return AffineMap::get(loops, 0, results, context);
  }
};

/// acc + x * w with reduction-friendly fast-math flags.
Value multiplyAdd(OpBuilder &builder, Location loc, Value accumulator,
                  Value activation, Value weight) {
  auto reassociable = arith::FastMathFlagsAttr::get(
      builder.getContext(),
      arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
  Value term = arith::MulFOp::create(
      builder, loc,
      convertFloat(builder, loc, activation, builder.getF32Type()), weight,
      reassociable);
  return arith::AddFOp::create(builder, loc, accumulator, term, reassociable);
}

/// y[..., n] += sum_{k in span} x[..., k] * w(n, k) with the weight decoded
/// inside the reduction, over loops (..., n, g, b, j). `x` holds the span's
/// decoded columns (zeros in the padding of its last byte).
Value fusedDecodeSpan(OpBuilder &builder, Location loc, Value x,
                      const PlaneRows &planes, Value accumulator) {
  unsigned leading = cast<RankedTensorType>(x.getType()).getRank() - 1;
  LoopSpace space{builder.getContext(), leading, leading + 4};
  unsigned n = leading, g = leading + 1, b = leading + 2, j = leading + 3;

  SmallVector<Value> inputs = {splitLastDim(
      builder, loc, x, {planes.groups, planes.bytesPerGroup(), 8})};
  SmallVector<AffineMap> maps = {space.withLeading({g, b, j})};
  llvm::append_range(inputs, signsByGroup(builder, loc, planes));
  maps.append(planes.planes(), space.of({n, g, b}));
  llvm::append_range(inputs, planes.scales);
  maps.append(planes.planes(), space.of({n, g}));
  maps.push_back(space.withLeading({n}));
  SmallVector<IteratorType> iterators(space.loops, kParallel);
  iterators[g] = iterators[b] = iterators[j] = kReduction;

  int64_t count = planes.planes();
  return linalg::GenericOp::create(
             builder, loc, accumulator.getType(), inputs, accumulator, maps,
             iterators,
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               Value bit = arith::IndexCastOp::create(
                   nested, nestedLoc, nested.getI8Type(),
                   linalg::IndexOp::create(nested, nestedLoc, j));
               Value weight =
                   decodeWeight(nested, nestedLoc, args.slice(1, count),
                                args.slice(1 + count, count), bit);
               linalg::YieldOp::create(nested, nestedLoc,
                                       multiplyAdd(nested, nestedLoc,
                                                   args.back(), args[0],
                                                   weight));
             })
      ->getResult(0);
}

/// y[..., n] += sum_k x[..., k] * w(n, k) over every column span, each
/// decoded inside its own reduction. A span's activations are zero-padded to
/// its last whole byte, so padding bits multiply zeros.
Value fusedDecodeMatmul(OpBuilder &builder, Location loc, Value x,
                        ArrayRef<PlaneRows> spans, Value accumulator) {
  for (const PlaneRows &span : spans)
    accumulator =
        fusedDecodeSpan(builder, loc, spanActivations(builder, loc, x, span),
                        span, accumulator);
  return accumulator;
}

/// y[..., n] += sum_k x[..., k] * w[n][k] for a decoded f32 weight, over
/// loops (..., n, k).
Value contractDecoded(OpBuilder &builder, Location loc, Value x, Value weight,
                      Value accumulator) {
  unsigned leading = cast<RankedTensorType>(x.getType()).getRank() - 1;
  LoopSpace space{builder.getContext(), leading, leading + 2};
  unsigned n = leading, k = leading + 1;
  SmallVector<AffineMap> maps = {space.withLeading({k}), space.of({n, k}),
                                 space.withLeading({n})};
  SmallVector<IteratorType> iterators(space.loops, kParallel);
  iterators[k] = kReduction;
  return linalg::GenericOp::create(
             builder, loc, accumulator.getType(), ValueRange{x, weight},
             accumulator, maps, iterators,
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               linalg::YieldOp::create(
                   nested, nestedLoc,
                   multiplyAdd(nested, nestedLoc, args[2], args[0], args[1]));
             })
      ->getResult(0);
}

/// The weight decoded tile of rows by tile of rows, each tile contracted with
/// every activation row, column span by column span.
Value tiledDecodeMatmul(OpBuilder &builder, Location loc, Value x, Value signs,
                        Value scales, int64_t groupSize, Value accumulator) {
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t k = xType.getShape().back();
  int64_t tileRows = std::max<int64_t>(8, kDecodedTileBytes / (4 * k) / 8 * 8);
  unsigned leading = xType.getRank() - 1;

  Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
  Value step = arith::ConstantIndexOp::create(builder, loc, tileRows);
  Value rows = tensor::DimOp::create(builder, loc, signs, 1);
  auto loop = scf::ForOp::create(
      builder, loc, zero, rows, step, ValueRange{accumulator},
      [&](OpBuilder &b, Location l, Value first, ValueRange iterArgs) {
        Value remaining = arith::SubIOp::create(b, l, rows, first);
        Value count = arith::MinSIOp::create(b, l, remaining, step);
        SmallVector<PlaneRows> tile =
            slicePlaneRows(b, l, signs, scales, groupSize, k, first, count);

        Value output = iterArgs.front();
        SmallVector<OpFoldResult> offsets(leading, b.getIndexAttr(0));
        offsets.push_back(first);
        SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, l, output);
        sizes.back() = count;
        SmallVector<OpFoldResult> strides(leading + 1, b.getIndexAttr(1));
        Value outputTile = tensor::ExtractSliceOp::create(b, l, output, offsets,
                                                          sizes, strides);
        // Each column span is decoded and contracted on its own, so the
        // decoded tile is never copied into a K-wide one.
        Value product = outputTile;
        for (const PlaneRows &span : tile)
          product = contractDecoded(b, l, spanActivations(b, l, x, span),
                                    decodeToFloat(b, l, span, b.getF32Type()),
                                    product);
        Value updated = tensor::InsertSliceOp::create(b, l, product, output,
                                                      offsets, sizes, strides);
        scf::YieldOp::create(b, l, updated);
      });
  return loop.getResult(0);
}

struct MatmulToLinalg : OpConversionPattern<MatmulOp> {
  MatmulToLinalg(MLIRContext *context, const MatmulLoweringOptions &options)
      : OpConversionPattern(context), options(options) {}

  LogicalResult
  matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), signs = adaptor.getSigns();
    Value scales = adaptor.getScales();
    int64_t groupSize = op.getGroupSize();
    RankedTensorType resultType = op.getResult().getType();
    int64_t rank = resultType.getRank();

    SmallVector<Value> dynamicSizes;
    for (int64_t dim = 0; dim + 1 < rank; ++dim)
      appendIfDynamic(rewriter, loc, x, dim, dynamicSizes);
    appendIfDynamic(rewriter, loc, signs, 1, dynamicSizes);
    SmallVector<int64_t> shape(cast<RankedTensorType>(x.getType()).getShape());
    shape.back() = cast<RankedTensorType>(signs.getType()).getDimSize(1);
    Value accumulator = zeroFilled(
        rewriter, loc,
        emptyTensor(rewriter, loc, shape, rewriter.getF32Type(), dynamicSizes));

    auto fused = [&](OpBuilder &b, Location l) {
      if (options.vectorGemv)
        return vectorMatvec(b, l, x, signs, scales, groupSize,
                            options.vectorWidth, accumulator);
      int64_t k = cast<RankedTensorType>(x.getType()).getShape().back();
      return fusedDecodeMatmul(b, l, x,
                               allPlaneRows(b, l, signs, scales, groupSize, k),
                               accumulator);
    };
    auto tiled = [&](OpBuilder &b, Location l) {
      return tiledDecodeMatmul(b, l, x, signs, scales, groupSize, accumulator);
    };
    Value product;
    OpFoldResult rows = activationRows(rewriter, loc, x);
    if (std::optional<int64_t> staticRows = getConstantIntValue(rows)) {
      product = *staticRows <= kFusedDecodeMaxRows ? fused(rewriter, loc)
                                                   : tiled(rewriter, loc);
    } else {
      Value few = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::ule, cast<Value>(rows),
          arith::ConstantIndexOp::create(rewriter, loc, kFusedDecodeMaxRows));
      product = scf::IfOp::create(
                    rewriter, loc, few,
                    [&](OpBuilder &b, Location l) {
                      scf::YieldOp::create(b, l, fused(b, l));
                    },
                    [&](OpBuilder &b, Location l) {
                      scf::YieldOp::create(b, l, tiled(b, l));
                    })
                    .getResult(0);
    }
    if (op.hasOutliers())
      product = addSparseProduct(rewriter, loc, x,
                                 OutlierOperands{adaptor.getOutlierOffsets(),
                                                 adaptor.getOutlierColumns(),
                                                 adaptor.getOutlierValues()},
                                 product);
    Value result =
        convertTensor(rewriter, loc, product, resultType.getElementType());
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, resultType, result);
    return success();
  }

private:
  MatmulLoweringOptions options;
};

} // namespace

void populateMatmulToLinalgPatterns(RewritePatternSet &patterns,
                                    const MatmulLoweringOptions &options) {
  patterns.add<MatmulToLinalg>(patterns.getContext(), options);
}

} // namespace r2q
