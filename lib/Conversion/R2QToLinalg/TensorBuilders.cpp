//===- TensorBuilders.cpp - Tensor plumbing of the r2q lowering -----------===//

#include "TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace r2q::lowering {

Value extractPlaneRows(OpBuilder &builder, Location loc, Value stack,
                       int64_t plane, OpFoldResult offset, OpFoldResult count) {
  auto type = cast<RankedTensorType>(stack.getType());
  SmallVector<OpFoldResult> offsets = {builder.getIndexAttr(plane), offset,
                                       builder.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {
      builder.getIndexAttr(1), count,
      tensor::getMixedSize(builder, loc, stack, 2)};
  SmallVector<OpFoldResult> strides(3, builder.getIndexAttr(1));
  std::optional<int64_t> staticCount = getConstantIntValue(count);
  auto planeType = RankedTensorType::get(
      {staticCount ? *staticCount : ShapedType::kDynamic, type.getDimSize(2)},
      type.getElementType());
  return tensor::ExtractSliceOp::create(builder, loc, planeType, stack, offsets,
                                        sizes, strides);
}

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

Value mergeDims(OpBuilder &builder, Location loc, Value value,
                ArrayRef<ReassociationIndices> groups) {
  return tensor::CollapseShapeOp::create(builder, loc, value, groups);
}

Value emptyTensor(OpBuilder &builder, Location loc, ArrayRef<int64_t> shape,
                  Type elementType, ValueRange dynamicSizes) {
  return tensor::EmptyOp::create(
      builder, loc, RankedTensorType::get(shape, elementType), dynamicSizes);
}

Value zeroFilled(OpBuilder &builder, Location loc, Value tensor) {
  Type elementType = cast<RankedTensorType>(tensor.getType()).getElementType();
  Value zero =
      arith::ConstantOp::create(builder, loc, builder.getZeroAttr(elementType));
  return linalg::FillOp::create(builder, loc, zero, tensor).getResult(0);
}

void appendIfDynamic(OpBuilder &builder, Location loc, Value value, int64_t dim,
                     SmallVectorImpl<Value> &sizes) {
  if (cast<RankedTensorType>(value.getType()).isDynamicDim(dim))
    sizes.push_back(tensor::DimOp::create(builder, loc, value, dim));
}

Value convertFloat(OpBuilder &builder, Location loc, Value value, Type type) {
  unsigned from = value.getType().getIntOrFloatBitWidth();
  unsigned to = type.getIntOrFloatBitWidth();
  if (value.getType() == type)
    return value;
  if (from < to || (from == to && type.isF32()))
    return arith::ExtFOp::create(builder, loc, type, value);
  return arith::TruncFOp::create(builder, loc, type, value);
}

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

OpFoldResult activationRows(OpBuilder &builder, Location loc, Value x) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t staticRows = 1;
  Value dynamicRows;
  for (int64_t dim = 0; dim + 1 < type.getRank(); ++dim) {
    if (!type.isDynamicDim(dim)) {
      staticRows *= type.getDimSize(dim);
      continue;
    }
    Value size = tensor::DimOp::create(builder, loc, x, dim);
    dynamicRows = dynamicRows
                      ? arith::MulIOp::create(builder, loc, dynamicRows, size)
                      : size;
  }
  if (!dynamicRows)
    return builder.getIndexAttr(staticRows);
  return arith::MulIOp::create(
             builder, loc, dynamicRows,
             arith::ConstantIndexOp::create(builder, loc, staticRows))
      .getResult();
}

/// The reassociation that merges all leading dimensions of a rank-`rank`
/// tensor and keeps the last: {{0, ..., rank - 2}, {rank - 1}}.
static SmallVector<ReassociationIndices> leadingAndLast(int64_t rank) {
  ReassociationIndices leading;
  for (int64_t dim = 0; dim + 1 < rank; ++dim)
    leading.push_back(dim);
  return {leading, {rank - 1}};
}

Value asRowMatrix(OpBuilder &builder, Location loc, Value x) {
  auto type = cast<RankedTensorType>(x.getType());
  if (type.getRank() == 2)
    return x;
  if (type.getRank() > 2)
    return mergeDims(builder, loc, x, leadingAndLast(type.getRank()));
  int64_t k = type.getDimSize(0);
  SmallVector<OpFoldResult> outputShape = {
      builder.getIndexAttr(1), tensor::getMixedSize(builder, loc, x, 0)};
  return tensor::ExpandShapeOp::create(
      builder, loc, RankedTensorType::get({1, k}, type.getElementType()), x,
      {{0, 1}}, outputShape);
}

Value fromRowMatrix(OpBuilder &builder, Location loc, Value rows, Value x) {
  auto xType = cast<RankedTensorType>(x.getType());
  auto rowsType = cast<RankedTensorType>(rows.getType());
  int64_t rank = xType.getRank();
  if (rank == 2)
    return rows;
  if (rank == 1)
    return mergeDims(builder, loc, rows, {{0, 1}});
  SmallVector<int64_t> shape(xType.getShape());
  shape.back() = rowsType.getDimSize(1);
  SmallVector<OpFoldResult> outputShape =
      tensor::getMixedSizes(builder, loc, x);
  outputShape.back() = tensor::getMixedSize(builder, loc, rows, 1);
  return tensor::ExpandShapeOp::create(
      builder, loc, RankedTensorType::get(shape, rowsType.getElementType()),
      rows, leadingAndLast(rank), outputShape);
}

} // namespace r2q::lowering
