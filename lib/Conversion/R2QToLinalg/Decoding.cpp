//===- Decoding.cpp - Decoding sign planes in linalg ----------------------===//

#include "Decoding.h"
#include "TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace r2q::lowering {

PlaneRows slicePlaneRows(OpBuilder &builder, Location loc, Value signs,
                         Value scales, int64_t groupSize, OpFoldResult offset,
                         OpFoldResult count) {
  auto signsType = cast<RankedTensorType>(signs.getType());
  PlaneRows planes;
  planes.groupSize = groupSize;
  planes.columns = 8 * signsType.getDimSize(2);
  for (int64_t plane = 0; plane < signsType.getDimSize(0); ++plane) {
    planes.signs.push_back(
        extractPlaneRows(builder, loc, signs, plane, offset, count));
    planes.scales.push_back(
        extractPlaneRows(builder, loc, scales, plane, offset, count));
  }
  return planes;
}

PlaneRows allPlaneRows(OpBuilder &builder, Location loc, Value signs,
                       Value scales, int64_t groupSize) {
  return slicePlaneRows(builder, loc, signs, scales, groupSize,
                        builder.getIndexAttr(0),
                        tensor::getMixedSize(builder, loc, signs, 1));
}

SmallVector<Value> signsByGroup(OpBuilder &builder, Location loc,
                                const PlaneRows &planes) {
  SmallVector<Value> grouped;
  for (Value signs : planes.signs)
    grouped.push_back(splitLastDim(builder, loc, signs,
                                   {planes.groups(), planes.bytesPerGroup()}));
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
                   planes.groups(), planes.bytesPerGroup(), 8},
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

} // namespace r2q::lowering
