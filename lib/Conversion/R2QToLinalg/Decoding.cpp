//===- Decoding.cpp - Decoding sign planes in linalg ----------------------===//

#include "Decoding.h"
#include "TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;

namespace r2q::lowering {

SmallVector<ColumnSpan> columnSpans(int64_t k, int64_t groupSize) {
  SmallVector<ColumnSpan> spans;
  if (int64_t wholeGroups = k / groupSize; wholeGroups > 0)
    spans.push_back({0, wholeGroups, groupSize});
  if (int64_t lastColumns = k % groupSize; lastColumns > 0)
    spans.push_back({k / groupSize, 1, lastColumns});
  return spans;
}

SmallVector<PlaneRows> slicePlaneRows(OpBuilder &builder, Location loc,
                                      Value signs, Value scales,
                                      int64_t groupSize, int64_t k,
                                      OpFoldResult offset, OpFoldResult count) {
  int64_t planes = cast<RankedTensorType>(signs.getType()).getDimSize(0);
  SmallVector<PlaneRows> result;
  for (ColumnSpan columns : columnSpans(k, groupSize)) {
    PlaneRows span;
    span.groupSize = llvm::alignTo(columns.length, 8);
    span.groups = columns.groups;
    span.firstColumn = columns.firstGroup * groupSize;
    span.columns = columns.groups * columns.length;
    for (int64_t plane = 0; plane < planes; ++plane) {
      span.signs.push_back(extractPlaneRows(builder, loc, signs, plane, offset,
                                            count, span.firstColumn / 8,
                                            span.decodedColumns() / 8));
      span.scales.push_back(extractPlaneRows(builder, loc, scales, plane,
                                             offset, count, columns.firstGroup,
                                             columns.groups));
    }
    result.push_back(std::move(span));
  }
  return result;
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

Value decodeInto(OpBuilder &builder, Location loc, const PlaneRows &planes,
                 Value init) {
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

  Type elementType = cast<RankedTensorType>(init.getType()).getElementType();
  int64_t count = planes.planes();
  return linalg::GenericOp::create(
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
}

Value decodeToFloat(OpBuilder &builder, Location loc, const PlaneRows &planes,
                    Type elementType) {
  Value rows = planes.signs.front();
  SmallVector<Value> dynamicRows;
  appendIfDynamic(builder, loc, rows, 0, dynamicRows);
  Value init =
      emptyTensor(builder, loc,
                  {cast<RankedTensorType>(rows.getType()).getDimSize(0),
                   planes.groups, planes.bytesPerGroup(), 8},
                  elementType, dynamicRows);
  return mergeDims(builder, loc, decodeInto(builder, loc, planes, init),
                   {{0}, {1, 2, 3}});
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
