//===- BucketRows.cpp - Static batches for r2q.matmul with dynamic rows ---===//
//
// The GPU kernels are specialized on the batch; a model exported with a
// dynamic batch (Torch-MLIR's tensor<?x?xK>) has none. This pass gives every
// such r2q.matmul static ones: its rows (the product of the input's leading
// dimensions, M) are padded with zero rows to the smallest bucket that holds
// them, the op runs on that static batch, and the first M rows of its result
// are kept; past the largest bucket, the rows run in chunks of the largest.
// The choice is made at run time by a cascade of scf.if on M.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace r2q {
#define GEN_PASS_DEF_R2QBUCKETROWSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// Table kernels below 16 rows, tensor cores from 16 on (r2q-select-gpu-
/// kernels), at most 4x the rows of a batch computed.
constexpr int64_t kDefaultBuckets[] = {1, 4, 16, 64, 256};

/// Whether `op` has dynamic rows and nothing else dynamic: K, N and the
/// weight are static (the GPU kernels need them so too).
bool hasOnlyDynamicRows(MatmulOp op) {
  RankedTensorType input = op.getInput().getType();
  if (input.hasStaticShape() || input.getRank() < 2 ||
      ShapedType::isDynamic(input.getShape().back()))
    return false;
  RankedTensorType result = op.getResult().getType();
  return !ShapedType::isDynamic(result.getShape().back()) &&
         op.getSigns().getType().hasStaticShape() &&
         op.getScales().getType().hasStaticShape();
}

class RowBuckets {
public:
  RowBuckets(OpBuilder &builder, MatmulOp op, ArrayRef<int64_t> buckets)
      : builder(builder), loc(op.getLoc()), op(op), buckets(buckets) {
    RankedTensorType input = op.getInput().getType();
    columns = input.getShape().back();
    features = op.getResult().getType().getShape().back();
    inputElement = input.getElementType();
    resultElement = op.getResult().getType().getElementType();
  }

  /// The op's result, computed on static batches. It is copied (a kernel
  /// on the GPU) into a tensor of its own: the branches' buffers have a
  /// strided layout, which the function's result would otherwise get
  /// through a copy on the host, and host code cannot read device memory.
  /// An empty batch computes nothing (its copy is a grid of no blocks,
  /// which the runtime skips).
  Value rewrite() {
    Value rows2d = collapseRows(op.getInput());
    Value rows = tensor::DimOp::create(builder, loc, rows2d, 0);
    Value none =
        arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::eq, rows,
                              arith::ConstantIndexOp::create(builder, loc, 0));
    auto branch =
        scf::IfOp::create(builder, loc, TypeRange{op.getResult().getType()},
                          none, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(builder);
      builder.setInsertionPointToStart(&branch.getThenRegion().front());
      scf::YieldOp::create(builder, loc, emptyResult());
      builder.setInsertionPointToStart(&branch.getElseRegion().front());
      scf::YieldOp::create(builder, loc, expandRows(cascade(rows2d, rows, 0)));
    }
    Value result = branch.getResult(0);
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(builder, loc, result);
    Value into = tensor::EmptyOp::create(builder, loc, sizes, resultElement);
    return linalg::CopyOp::create(builder, loc, result, into).getResult(0);
  }

private:
  /// A result of no rows in the op's result shape.
  Value emptyResult() {
    RankedTensorType type = op.getResult().getType();
    SmallVector<OpFoldResult> sizes;
    for (int64_t dim = 0; dim + 1 < type.getRank(); ++dim)
      sizes.push_back(tensor::getMixedSize(builder, loc, op.getInput(), dim));
    sizes.push_back(builder.getIndexAttr(features));
    Value empty = tensor::EmptyOp::create(builder, loc, sizes, resultElement);
    return tensor::CastOp::create(builder, loc, type, empty);
  }

  /// The input as an M x K matrix.
  Value collapseRows(Value input) {
    int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
    if (rank == 2)
      return input;
    ReassociationIndices leading;
    for (int64_t dim = 0; dim + 1 < rank; ++dim)
      leading.push_back(dim);
    return tensor::CollapseShapeOp::create(
        builder, loc, input,
        ArrayRef<ReassociationIndices>{leading, {rank - 1}});
  }

  /// An M x N result in the op's result shape (leading dimensions as the
  /// input's).
  Value expandRows(Value result) {
    RankedTensorType type = op.getResult().getType();
    if (type.getRank() == 2)
      return tensor::CastOp::create(builder, loc, type, result);
    SmallVector<OpFoldResult> shape;
    for (int64_t dim = 0; dim + 1 < type.getRank(); ++dim)
      shape.push_back(tensor::getMixedSize(builder, loc, op.getInput(), dim));
    shape.push_back(builder.getIndexAttr(features));
    ReassociationIndices leading;
    for (int64_t dim = 0; dim + 1 < type.getRank(); ++dim)
      leading.push_back(dim);
    return tensor::ExpandShapeOp::create(
        builder, loc, type, result,
        ArrayRef<ReassociationIndices>{leading, {type.getRank() - 1}}, shape);
  }

  /// rows <= buckets[i] ? padded(buckets[i]) : the next bucket, and past
  /// the last one chunks of it.
  Value cascade(Value x, Value rows, size_t i) {
    if (i == buckets.size())
      return chunks(x, rows);
    Value fits = arith::CmpIOp::create(
        builder, loc, arith::CmpIPredicate::ule, rows,
        arith::ConstantIndexOp::create(builder, loc, buckets[i]));
    auto type =
        RankedTensorType::get({ShapedType::kDynamic, features}, resultElement);
    auto branch = scf::IfOp::create(builder, loc, TypeRange{type}, fits,
                                    /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(&branch.getThenRegion().front());
    scf::YieldOp::create(builder, loc,
                         padded(x,
                                arith::ConstantIndexOp::create(builder, loc, 0),
                                rows, buckets[i]));
    builder.setInsertionPointToStart(&branch.getElseRegion().front());
    scf::YieldOp::create(builder, loc, cascade(x, rows, i + 1));
    return branch.getResult(0);
  }

  /// The op on rows [first, first + rows) of `x` padded with zeros to
  /// `bucket` (rows <= bucket), its first `rows` result rows.
  Value padded(Value x, Value first, Value rows, int64_t bucket) {
    IRMapping mapping;
    mapping.map(op.getInput(), padRows(x, first, rows, bucket));
    auto staticOp = cast<MatmulOp>(builder.clone(*op, mapping));
    staticOp.getResult().setType(
        RankedTensorType::get({bucket, features}, resultElement));
    SmallVector<OpFoldResult> offsets(2, builder.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(2, builder.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(
        builder, loc, staticOp.getResult(), offsets,
        ArrayRef<OpFoldResult>{rows, builder.getIndexAttr(features)}, strides);
  }

  /// A bucket x K batch: row i is x's row first + i below `rows`, zero
  /// after. One linalg.generic (a kernel of its own on the GPU: host code
  /// cannot read the caller's device memory, so no memref.copy).
  Value padRows(Value x, Value first, Value rows, int64_t bucket) {
    Value empty = tensor::EmptyOp::create(
        builder, loc, ArrayRef<int64_t>{bucket, columns}, inputElement);
    AffineMap identity = builder.getMultiDimIdentityMap(2);
    Value last = arith::SubIOp::create(
        builder, loc, rows, arith::ConstantIndexOp::create(builder, loc, 1));
    SmallVector<utils::IteratorType> parallel(2, utils::IteratorType::parallel);
    return linalg::GenericOp::create(
               builder, loc, empty.getType(), ValueRange{}, empty,
               ArrayRef<AffineMap>{identity}, parallel,
               [&](OpBuilder &b, Location l, ValueRange) {
                 Value row = linalg::IndexOp::create(b, l, 0);
                 Value column = linalg::IndexOp::create(b, l, 1);
                 Value inside = arith::CmpIOp::create(
                     b, l, arith::CmpIPredicate::ult, row, rows);
                 Value source = arith::AddIOp::create(
                     b, l, first, arith::MinUIOp::create(b, l, row, last));
                 Value value = tensor::ExtractOp::create(
                     b, l, x, ValueRange{source, column});
                 Value zero = arith::ConstantOp::create(
                     b, l, b.getZeroAttr(inputElement));
                 linalg::YieldOp::create(
                     b, l,
                     Value(arith::SelectOp::create(b, l, inside, value, zero)));
               })
        .getResult(0);
  }

  /// The rows in chunks of the largest bucket, each padded to it.
  Value chunks(Value x, Value rows) {
    int64_t largest = buckets.back();
    Value empty = tensor::EmptyOp::create(
        builder, loc,
        ArrayRef<OpFoldResult>{rows, builder.getIndexAttr(features)},
        resultElement);
    auto loop = scf::ForOp::create(
        builder, loc, arith::ConstantIndexOp::create(builder, loc, 0), rows,
        arith::ConstantIndexOp::create(builder, loc, largest),
        ValueRange{empty});
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(loop.getBody());
    Value first = loop.getInductionVar();
    Value count = arith::MinUIOp::create(
        builder, loc, arith::ConstantIndexOp::create(builder, loc, largest),
        arith::SubIOp::create(builder, loc, rows, first));
    SmallVector<OpFoldResult> strides(2, builder.getIndexAttr(1));
    Value result = padded(x, first, count, largest);
    // The chunk's rows of the result written by a linalg.copy into the
    // slice they replace (in place: no memref.copy).
    SmallVector<OpFoldResult> offsets{first, builder.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{count, builder.getIndexAttr(features)};
    Value slice = tensor::ExtractSliceOp::create(
        builder, loc, loop.getRegionIterArg(0), offsets, sizes, strides);
    Value copied =
        linalg::CopyOp::create(builder, loc, result, slice).getResult(0);
    Value updated = tensor::InsertSliceOp::create(builder, loc, copied,
                                                  loop.getRegionIterArg(0),
                                                  offsets, sizes, strides);
    scf::YieldOp::create(builder, loc, updated);
    return loop.getResult(0);
  }

  OpBuilder &builder;
  Location loc;
  MatmulOp op;
  ArrayRef<int64_t> buckets;
  int64_t columns, features;
  Type inputElement, resultElement;
};

class BucketRowsPass : public impl::R2QBucketRowsPassBase<BucketRowsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    SmallVector<int64_t> sorted(buckets.begin(), buckets.end());
    if (sorted.empty())
      sorted.assign(std::begin(kDefaultBuckets), std::end(kDefaultBuckets));
    llvm::sort(sorted);
    if (sorted.front() < 1 ||
        std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      emitError(getOperation()->getLoc())
          << "r2q-bucket-rows: buckets must be distinct positive row counts";
      return signalPassFailure();
    }
    SmallVector<MatmulOp> ops;
    getOperation()->walk([&](MatmulOp op) {
      if (hasOnlyDynamicRows(op))
        ops.push_back(op);
    });
    for (MatmulOp op : ops) {
      OpBuilder builder(op);
      Value result = RowBuckets(builder, op, sorted).rewrite();
      op.getResult().replaceAllUsesWith(result);
      op.erase();
    }
  }
};

} // namespace
} // namespace r2q
