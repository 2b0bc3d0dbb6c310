//===- TiledDecode.cpp - r2q.matmul by tiles of decoded weights
//------------===//
//
// Strategy tiled_decode (many rows): the weight is decoded in tiles of
// output features (tile_rows, by default at most kDecodedTileBytes of f32 so
// that a tile stays in L2) and each tile is contracted with every activation
// row, so decoding costs once per weight whatever the number of rows. Each
// column span of a tile is decoded and contracted on its own, so the decoded
// tile is never copied into a K-wide one.
//
// The decoded tiles live in scratch tensors made once per call, one entry
// per thread's part of the features: a part's tile loop decodes every tile
// into its own entry, and nothing is allocated inside the loops.
//
//===----------------------------------------------------------------------===//

#include "Contraction.h"
#include "Decoding.h"
#include "MatmulStrategy.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace r2q::lowering {
namespace {

constexpr int64_t kDecodedTileBytes = 256 * 1024;

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

/// Rows [0, count) of a tile-sized tensor (rows first, the rest whole).
Value leadingRows(OpBuilder &builder, Location loc, Value tensor, Value count) {
  int64_t rank = cast<RankedTensorType>(tensor.getType()).getRank();
  SmallVector<OpFoldResult> offsets(rank, builder.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(builder, loc, tensor);
  sizes.front() = count;
  SmallVector<OpFoldResult> strides(rank, builder.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(builder, loc, tensor, offsets, sizes,
                                        strides);
}

/// `part` written back over rows [0, rows of part) of `tensor`.
Value insertLeadingRows(OpBuilder &builder, Location loc, Value part,
                        Value tensor) {
  int64_t rank = cast<RankedTensorType>(tensor.getType()).getRank();
  SmallVector<OpFoldResult> offsets(rank, builder.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(builder, loc, part);
  SmallVector<OpFoldResult> strides(rank, builder.getIndexAttr(1));
  return tensor::InsertSliceOp::create(builder, loc, part, tensor, offsets,
                                       sizes, strides);
}

/// The features [offset, offset + count) of the last dimension of `tensor`,
/// and the same slice's parameters for writing it back.
struct FeatureTile {
  SmallVector<OpFoldResult> offsets, sizes, strides;

  FeatureTile(OpBuilder &builder, Location loc, Value tensor, Value offset,
              Value count) {
    int64_t rank = cast<RankedTensorType>(tensor.getType()).getRank();
    offsets.assign(rank, builder.getIndexAttr(0));
    offsets.back() = offset;
    sizes = tensor::getMixedSizes(builder, loc, tensor);
    sizes.back() = count;
    strides.assign(rank, builder.getIndexAttr(1));
  }
  Value extract(OpBuilder &builder, Location loc, Value tensor) const {
    return tensor::ExtractSliceOp::create(builder, loc, tensor, offsets, sizes,
                                          strides);
  }
  Value insert(OpBuilder &builder, Location loc, Value tile,
               Value tensor) const {
    return tensor::InsertSliceOp::create(builder, loc, tile, tensor, offsets,
                                         sizes, strides);
  }
};

struct TiledDecodePattern : MatmulStrategyPattern {
  explicit TiledDecodePattern(MLIRContext *context)
      : MatmulStrategyPattern(context, KernelStrategy::TiledDecode) {}

  /// The kernel's tile rows, or those of kDecodedTileBytes; never more
  /// than a static N.
  static int64_t tileRowsFor(KernelAttr kernel, int64_t k, int64_t n) {
    int64_t rows =
        kernel.getTileRows() > 0
            ? kernel.getTileRows()
            : std::max<int64_t>(8, kDecodedTileBytes / (4 * k) / 8 * 8);
    return ShapedType::isDynamic(n) ? rows : std::min(rows, n);
  }

  Value denseProduct(OpBuilder &builder, Location loc,
                     const MatmulOperands &operands,
                     Value accumulator) const override {
    int64_t k = operands.columns();
    int64_t tileRows = tileRowsFor(
        operands.kernel, k,
        cast<RankedTensorType>(operands.signs.getType()).getDimSize(1));
    int64_t parts = operands.kernel.getThreads();
    // The spans' layout (groups, their lengths) does not depend on the rows:
    // read it from the spans of the first row.
    Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
    SmallVector<PlaneRows> layout =
        slicePlaneRows(builder, loc, operands.signs, operands.scales,
                       operands.groupSize, k, zero, builder.getIndexAttr(1));
    SmallVector<Value> spanInputs, scratch;
    for (const PlaneRows &span : layout) {
      spanInputs.push_back(spanActivations(builder, loc, operands.x, span));
      scratch.push_back(emptyTensor(
          builder, loc, {parts, tileRows, span.groups, span.bytesPerGroup(), 8},
          builder.getF32Type()));
    }
    Value features = tensor::DimOp::create(builder, loc, operands.signs, 1);
    return splitFeatures(
        builder, loc, operands.kernel, features, tileRows, accumulator, scratch,
        [&](OpBuilder &b, Location l, const FeaturePart &part) {
          return decodeTiles(b, l, operands, tileRows, spanInputs, part);
        });
  }

  /// The tile loop of one part: returns its output and scratch entries.
  static SmallVector<Value> decodeTiles(OpBuilder &builder, Location loc,
                                        const MatmulOperands &operands,
                                        int64_t tileRows,
                                        ArrayRef<Value> spanInputs,
                                        const FeaturePart &part) {
    Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
    Value step = arith::ConstantIndexOp::create(builder, loc, tileRows);
    SmallVector<Value> initial = {part.output};
    llvm::append_range(initial, part.scratch);
    auto loop = scf::ForOp::create(
        builder, loc, zero, part.count, step, initial,
        [&](OpBuilder &b, Location l, Value offset, ValueRange carried) {
          Value remaining = arith::SubIOp::create(b, l, part.count, offset);
          Value count = arith::MinSIOp::create(b, l, remaining, step);
          Value first = arith::AddIOp::create(b, l, part.first, offset);
          SmallVector<PlaneRows> spans = slicePlaneRows(
              b, l, operands.signs, operands.scales, operands.groupSize,
              operands.columns(), first, count);
          FeatureTile tile(b, l, carried.front(), offset, count);
          Value product = tile.extract(b, l, carried.front());
          SmallVector<Value> next = {Value()};
          for (auto [span, x, buffer] :
               llvm::zip_equal(spans, spanInputs, carried.drop_front())) {
            Value decoded =
                decodeInto(b, l, span, leadingRows(b, l, buffer, count));
            product = contractDecoded(
                b, l, x, mergeDims(b, l, decoded, {{0}, {1, 2, 3}}), product);
            next.push_back(insertLeadingRows(b, l, decoded, buffer));
          }
          next.front() = tile.insert(b, l, product, carried.front());
          scf::YieldOp::create(b, l, next);
        });
    return SmallVector<Value>(loop.getResults());
  }
};

} // namespace

void populateTiledDecodePatterns(RewritePatternSet &patterns) {
  patterns.add<TiledDecodePattern>(patterns.getContext());
}

} // namespace r2q::lowering
