//===- SparseProduct.cpp - The sparse part of dense + sparse R2Q ----------===//
//
// Loop names: the leading (batch) loops of the accumulator, n output feature,
// j outlier of row n.
//
//===----------------------------------------------------------------------===//

#include "SparseProduct.h"
#include "TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace r2q::lowering {
namespace {

/// `tensor[position]` of a 1-D integer tensor as an index.
Value extractIndex(OpBuilder &builder, Location loc, Value tensor,
                   Value position) {
  Value element = tensor::ExtractOp::create(builder, loc, tensor, position);
  return arith::IndexCastOp::create(builder, loc, builder.getIndexType(),
                                    element);
}

/// acc + x[leading..., columns[j]] * values[j] in f32.
Value addOutlierTerm(OpBuilder &builder, Location loc, Value x,
                     const OutlierOperands &outliers, ValueRange leading,
                     Value j, Value accumulator) {
  SmallVector<Value> position(leading);
  position.push_back(extractIndex(builder, loc, outliers.columns, j));
  Type f32 = builder.getF32Type();
  Value activation = convertFloat(
      builder, loc, tensor::ExtractOp::create(builder, loc, x, position), f32);
  Value correction = convertFloat(
      builder, loc, tensor::ExtractOp::create(builder, loc, outliers.values, j),
      f32);
  Value term = arith::MulFOp::create(builder, loc, activation, correction);
  return arith::AddFOp::create(builder, loc, accumulator, term);
}

} // namespace

Value addSparseProduct(OpBuilder &builder, Location loc, Value x,
                       const OutlierOperands &outliers, Value accumulator) {
  auto type = cast<RankedTensorType>(accumulator.getType());
  int64_t rank = type.getRank();
  AffineMap identity = builder.getMultiDimIdentityMap(rank);
  return linalg::GenericOp::create(
             builder, loc, type, ValueRange{}, accumulator,
             ArrayRef<AffineMap>{identity},
             SmallVector<IteratorType>(rank, kParallel),
             [&](OpBuilder &b, Location l, ValueRange args) {
               SmallVector<Value> indices;
               for (int64_t dim = 0; dim < rank; ++dim)
                 indices.push_back(linalg::IndexOp::create(b, l, dim));
               Value n = indices.back();
               Value one = arith::ConstantIndexOp::create(b, l, 1);
               Value begin = extractIndex(b, l, outliers.offsets, n);
               Value end = extractIndex(b, l, outliers.offsets,
                                        arith::AddIOp::create(b, l, n, one));
               ValueRange leading = ValueRange(indices).drop_back();
               auto loop = scf::ForOp::create(
                   b, l, begin, end, one, ValueRange{args[0]},
                   [&](OpBuilder &lb, Location ll, Value j, ValueRange acc) {
                     scf::YieldOp::create(lb, ll,
                                          addOutlierTerm(lb, ll, x, outliers,
                                                         leading, j, acc[0]));
                   });
               linalg::YieldOp::create(b, l, loop.getResult(0));
             })
      ->getResult(0);
}

} // namespace r2q::lowering
