//===- TensorBuilders.cpp - Tensor plumbing of the r2q lowering -----------===//

#include "TensorBuilders.h"

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace r2q::lowering {

Value extractPlaneRows(OpBuilder &builder, Location loc, Value stack,
                       int64_t plane, OpFoldResult offset, OpFoldResult count,
                       int64_t firstColumn, int64_t columns) {
  auto type = cast<RankedTensorType>(stack.getType());
  SmallVector<OpFoldResult> offsets = {builder.getIndexAttr(plane), offset,
                                       builder.getIndexAttr(firstColumn)};
  SmallVector<OpFoldResult> sizes = {builder.getIndexAttr(1), count,
                                     builder.getIndexAttr(columns)};
  SmallVector<OpFoldResult> strides(3, builder.getIndexAttr(1));
  std::optional<int64_t> staticCount = getConstantIntValue(count);
  auto planeType = RankedTensorType::get(
      {staticCount ? *staticCount : ShapedType::kDynamic, columns},
      type.getElementType());
  return tensor::ExtractSliceOp::create(builder, loc, planeType, stack, offsets,
                                        sizes, strides);
}

/// Offsets, sizes and strides of the columns [first, first + count) of the
/// last dimension of `value`, all of every other dimension.
static void columnRange(OpBuilder &builder, Location loc, Value value,
                        int64_t first, int64_t count,
                        SmallVectorImpl<OpFoldResult> &offsets,
                        SmallVectorImpl<OpFoldResult> &sizes,
                        SmallVectorImpl<OpFoldResult> &strides) {
  int64_t rank = cast<RankedTensorType>(value.getType()).getRank();
  offsets.assign(rank, builder.getIndexAttr(0));
  offsets.back() = builder.getIndexAttr(first);
  sizes = tensor::getMixedSizes(builder, loc, value);
  sizes.back() = builder.getIndexAttr(count);
  strides.assign(rank, builder.getIndexAttr(1));
}

Value sliceColumns(OpBuilder &builder, Location loc, Value value, int64_t first,
                   int64_t count) {
  if (first == 0 &&
      cast<RankedTensorType>(value.getType()).getShape().back() == count)
    return value;
  SmallVector<OpFoldResult> offsets, sizes, strides;
  columnRange(builder, loc, value, first, count, offsets, sizes, strides);
  return tensor::ExtractSliceOp::create(builder, loc, value, offsets, sizes,
                                        strides);
}

/// `part` inserted into `dest` at column `first` of the last dimension.
static Value insertColumns(OpBuilder &builder, Location loc, Value part,
                           Value dest, int64_t first) {
  SmallVector<OpFoldResult> offsets, sizes, strides;
  columnRange(builder, loc, part, first,
              cast<RankedTensorType>(part.getType()).getShape().back(), offsets,
              sizes, strides);
  return tensor::InsertSliceOp::create(builder, loc, part, dest, offsets, sizes,
                                       strides);
}

Value padColumns(OpBuilder &builder, Location loc, Value value,
                 int64_t columns) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape().back() == columns)
    return value;
  SmallVector<int64_t> shape(type.getShape());
  shape.back() = columns;
  SmallVector<Value> dynamicSizes;
  for (int64_t dim = 0; dim + 1 < type.getRank(); ++dim)
    appendIfDynamic(builder, loc, value, dim, dynamicSizes);
  Value zeros = zeroFilled(
      builder, loc,
      emptyTensor(builder, loc, shape, type.getElementType(), dynamicSizes));
  return insertColumns(builder, loc, value, zeros, 0);
}

Value concatColumns(OpBuilder &builder, Location loc, ValueRange parts) {
  if (parts.size() == 1)
    return parts.front();
  auto type = cast<RankedTensorType>(parts.front().getType());
  int64_t columns = 0;
  for (Value part : parts)
    columns += cast<RankedTensorType>(part.getType()).getDimSize(1);
  SmallVector<Value> dynamicRows;
  appendIfDynamic(builder, loc, parts.front(), 0, dynamicRows);
  Value result = emptyTensor(builder, loc, {type.getDimSize(0), columns},
                             type.getElementType(), dynamicRows);
  int64_t first = 0;
  for (Value part : parts) {
    result = insertColumns(builder, loc, part, result, first);
    first += cast<RankedTensorType>(part.getType()).getDimSize(1);
  }
  return result;
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

Value toF32(OpBuilder &builder, Location loc, Value value) {
  Type f32 = builder.getF32Type();
  Type type = value.getType();
  if (auto vector = dyn_cast<VectorType>(type))
    f32 = VectorType::get(vector.getShape(), f32);
  if (type == f32)
    return value;
  return arith::ExtFOp::create(builder, loc, f32, value);
}

Value i32Constant(OpBuilder &builder, Location loc, int32_t value) {
  return arith::ConstantOp::create(builder, loc,
                                   builder.getI32IntegerAttr(value));
}

Value dynamicWorkgroupBuffer(OpBuilder &builder, Location loc, int64_t bytes) {
  Attribute workgroup = gpu::AddressSpaceAttr::get(
      builder.getContext(), gpu::AddressSpace::Workgroup);
  Value dynamic = gpu::DynamicSharedMemoryOp::create(
      builder, loc,
      MemRefType::get({ShapedType::kDynamic}, builder.getI8Type(),
                      MemRefLayoutAttrInterface(), workgroup));
  return memref::ViewOp::create(
      builder, loc,
      MemRefType::get({bytes}, builder.getI8Type(), MemRefLayoutAttrInterface(),
                      workgroup),
      dynamic, arith::ConstantIndexOp::create(builder, loc, 0), ValueRange{});
}

void askForBlocksPerSM(OpBuilder &builder, Operation *launch, int32_t blocks) {
  launch->setAttr(r2q::kKernelAttributesName,
                  builder.getDictionaryAttr(builder.getNamedAttr(
                      NVVM::NVVMDialect::getMinctasmAttrName(),
                      builder.getI32IntegerAttr(blocks))));
}

Value bytePermute(OpBuilder &builder, Location loc, Value low, Value high,
                  Value selector, bool gpu) {
  if (gpu)
    return NVVM::PermuteOp::create(builder, loc, builder.getI32Type(), low,
                                   high, selector, NVVM::PermuteMode::DEFAULT);
  Type i64 = builder.getI64Type();
  auto wide = [&](Value value) {
    return arith::ExtUIOp::create(builder, loc, i64, value);
  };
  auto constant = [&](int64_t value) {
    return arith::ConstantOp::create(builder, loc,
                                     builder.getI64IntegerAttr(value));
  };
  Value pool = arith::OrIOp::create(
      builder, loc, wide(low),
      arith::ShLIOp::create(builder, loc, wide(high), constant(32)));
  Value selectors = wide(selector);
  Value result = constant(0);
  for (int64_t k = 0; k < 4; ++k) {
    Value nibble = arith::AndIOp::create(
        builder, loc,
        arith::ShRUIOp::create(builder, loc, selectors, constant(4 * k)),
        constant(7));
    Value byte = arith::AndIOp::create(
        builder, loc,
        arith::ShRUIOp::create(
            builder, loc, pool,
            arith::MulIOp::create(builder, loc, nibble, constant(8))),
        constant(255));
    result = arith::OrIOp::create(
        builder, loc, result,
        arith::ShLIOp::create(builder, loc, byte, constant(8 * k)));
  }
  return arith::TruncIOp::create(builder, loc, builder.getI32Type(), result);
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

Value asF32RowMatrix(OpBuilder &builder, Location loc, Value x) {
  return convertTensor(builder, loc, asRowMatrix(builder, loc, x),
                       builder.getF32Type());
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

Value readBuffer(OpBuilder &builder, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  return bufferization::ToBufferOp::create(
      builder, loc, MemRefType::get(type.getShape(), type.getElementType()),
      tensor, /*read_only=*/true);
}

} // namespace r2q::lowering
