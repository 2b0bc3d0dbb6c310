//===- Decoding.cpp - Decoding sign planes in linalg ----------------------===//

#include "Decoding.h"
#include "TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;

namespace r2q::lowering {

/// The span of `groups` groups of `groupSize` columns (a multiple of 8)
/// starting at group `firstGroup` of rows [offset, offset + count), of which
/// `columns` are weights.
static PlaneRows sliceSpan(OpBuilder &builder, Location loc, Value signs,
                           Value scales, int64_t schemeGroupSize,
                           int64_t firstGroup, int64_t groups,
                           int64_t groupSize, int64_t columns,
                           OpFoldResult offset, OpFoldResult count) {
  PlaneRows span;
  span.groupSize = groupSize;
  span.groups = groups;
  span.firstColumn = firstGroup * schemeGroupSize;
  span.columns = columns;
  int64_t planes = cast<RankedTensorType>(signs.getType()).getDimSize(0);
  for (int64_t plane = 0; plane < planes; ++plane) {
    span.signs.push_back(extractPlaneRows(builder, loc, signs, plane, offset,
                                          count, span.firstColumn / 8,
                                          span.decodedColumns() / 8));
    span.scales.push_back(extractPlaneRows(builder, loc, scales, plane, offset,
                                           count, firstGroup, groups));
  }
  return span;
}

SmallVector<PlaneRows> slicePlaneRows(OpBuilder &builder, Location loc,
                                      Value signs, Value scales,
                                      int64_t groupSize, int64_t k,
                                      OpFoldResult offset, OpFoldResult count) {
  SmallVector<PlaneRows> spans;
  int64_t wholeGroups = k / groupSize, lastColumns = k % groupSize;
  if (wholeGroups > 0)
    spans.push_back(sliceSpan(builder, loc, signs, scales, groupSize, 0,
                              wholeGroups, groupSize, wholeGroups * groupSize,
                              offset, count));
  if (lastColumns > 0)
    spans.push_back(sliceSpan(builder, loc, signs, scales, groupSize,
                              wholeGroups, 1, llvm::alignTo(lastColumns, 8),
                              lastColumns, offset, count));
  return spans;
}

SmallVector<PlaneRows> allPlaneRows(OpBuilder &builder, Location loc,
                                    Value signs, Value scales,
                                    int64_t groupSize, int64_t k) {
  return slicePlaneRows(builder, loc, signs, scales, groupSize, k,
                        builder.getIndexAttr(0),
                        tensor::getMixedSize(builder, loc, signs, 1));
}

SmallVector<Value> signsByGroup(OpBuilder &builder, Location loc,
                                const PlaneRows &planes) {
  SmallVector<Value> grouped;
  for (Value signs : planes.signs)
    grouped.push_back(splitLastDim(builder, loc, signs,
                                   {planes.groups, planes.bytesPerGroup()}));
  return grouped;
}

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

Value decodeToFloat(OpBuilder &builder, Location loc, const PlaneRows &planes,
                    Type elementType) {
  MLIRContext *context = builder.getContext();
  AffineExpr dN, dG, dB;
  bindDims(context, dN, dG, dB);
  const unsigned bitLoop = 3;

  SmallVector<Value> inputs = signsByGroup(builder, loc, planes);
  SmallVector<AffineMap> maps(planes.planes(),
                              AffineMap::get(4, 0, {dN, dG, dB}, context));
  llvm::append_range(inputs, planes.scales);
  maps.append(planes.planes(), AffineMap::get(4, 0, {dN, dG}, context));
  maps.push_back(builder.getMultiDimIdentityMap(4));

  Value rows = planes.signs.front();
  SmallVector<Value> dynamicRows;
  appendIfDynamic(builder, loc, rows, 0, dynamicRows);
  Value init =
      emptyTensor(builder, loc,
                  {cast<RankedTensorType>(rows.getType()).getDimSize(0),
                   planes.groups, planes.bytesPerGroup(), 8},
                  elementType, dynamicRows);

  int64_t count = planes.planes();
  Value decoded =
      linalg::GenericOp::create(
          builder, loc, init.getType(), inputs, init, maps,
          SmallVector<IteratorType>(4, kParallel),
          [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
            Value bit = arith::IndexCastOp::create(
                nested, nestedLoc, nested.getI8Type(),
                linalg::IndexOp::create(nested, nestedLoc, bitLoop));
            Value weight =
                decodeWeight(nested, nestedLoc, args.take_front(count),
                             args.slice(count, count), bit);
            linalg::YieldOp::create(
                nested, nestedLoc,
                convertFloat(nested, nestedLoc, weight, elementType));
          })
          ->getResult(0);
  return mergeDims(builder, loc, decoded, {{0}, {1, 2, 3}});
}

Value decodeToFloat(OpBuilder &builder, Location loc, ArrayRef<PlaneRows> spans,
                    Type elementType) {
  SmallVector<Value> parts;
  for (const PlaneRows &span : spans)
    parts.push_back(sliceColumns(builder, loc,
                                 decodeToFloat(builder, loc, span, elementType),
                                 0, span.columns));
  return concatColumns(builder, loc, parts);
}

Value spanActivations(OpBuilder &builder, Location loc, Value x,
                      const PlaneRows &span) {
  return padColumns(
      builder, loc,
      sliceColumns(builder, loc, x, span.firstColumn, span.columns),
      span.decodedColumns());
}

} // namespace r2q::lowering
