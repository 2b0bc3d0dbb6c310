//===- FusedDecode.cpp - r2q.matmul as one decode-and-contract generic ----===//
//
// Strategy fused_decode (few rows, portable): one linalg.generic over
// (..., n, g, b, j) per column span decodes each weight inside the
// reduction; nothing is materialized and each sign byte is read once per
// row. With several threads, each part of the output features is such a
// generic on its rows of the weight.
//
//===----------------------------------------------------------------------===//

#include "Contraction.h"
#include "Decoding.h"
#include "MatmulStrategy.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace r2q::lowering {
namespace {

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

struct FusedDecodePattern : MatmulStrategyPattern {
  explicit FusedDecodePattern(MLIRContext *context)
      : MatmulStrategyPattern(context, KernelStrategy::FusedDecode) {}

  Value denseProduct(OpBuilder &builder, Location loc,
                     const MatmulOperands &operands,
                     Value accumulator) const override {
    int64_t k = operands.columns();
    // The activations of each column span (zero-padded to its last byte)
    // are made once, outside the split.
    SmallVector<Value> spanInputs;
    for (const PlaneRows &span :
         allPlaneRows(builder, loc, operands.signs, operands.scales,
                      operands.groupSize, k))
      spanInputs.push_back(spanActivations(builder, loc, operands.x, span));
    Value features = tensor::DimOp::create(builder, loc, operands.signs, 1);
    int64_t unitRows = std::max<int64_t>(1, operands.kernel.getTileRows());
    return splitFeatures(
        builder, loc, operands.kernel, features, unitRows, accumulator, {},
        [&](OpBuilder &b, Location l,
            const FeaturePart &part) -> SmallVector<Value> {
          SmallVector<PlaneRows> spans =
              slicePlaneRows(b, l, operands.signs, operands.scales,
                             operands.groupSize, k, part.first, part.count);
          Value output = part.output;
          for (auto [span, x] : llvm::zip_equal(spans, spanInputs))
            output = fusedDecodeSpan(b, l, x, span, output);
          return {output};
        });
  }
};

} // namespace

void populateFusedDecodePatterns(RewritePatternSet &patterns) {
  patterns.add<FusedDecodePattern>(patterns.getContext());
}

} // namespace r2q::lowering
