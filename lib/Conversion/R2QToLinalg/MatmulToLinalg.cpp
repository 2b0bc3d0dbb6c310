//===- MatmulToLinalg.cpp - r2q.matmul by its kernel strategy
//--------------===//
//
// What every strategy of r2q.matmul shares (MatmulStrategy.h): the kernel of
// an op, the choice between two strategies by the number of activation rows
// (at compile time when the rows are static, an scf.if otherwise), the f32
// accumulator, the sparse outlier product added after the dense one
// (SparseProduct.h), the rounding to the result type, and the split of the
// output features across threads. The strategies themselves live in
// FusedDecode.cpp, TiledDecode.cpp, MatvecToVector.cpp, LutGemv.cpp,
// Int8Gemm.cpp and WarpGemv.cpp.
//
//===----------------------------------------------------------------------===//

#include "MatmulStrategy.h"
#include "SparseProduct.h"
#include "TensorBuilders.h"
#include "VectorBuilders.h"

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace r2q::lowering {

KernelAttr kernelOf(MatmulOp op) {
  if (KernelAttr kernel = op.getKernelAttr())
    return kernel;
  return KernelAttr::getPortableDefault(op.getContext());
}

LogicalResult MatmulStrategyPattern::matchAndRewrite(
    MatmulOp op, OpAdaptor adaptor, ConversionPatternRewriter &rewriter) const {
  KernelAttr kernel = kernelOf(op);
  if (kernel.getOtherwise() || kernel.getStrategy() != strategy)
    return rewriter.notifyMatchFailure(op, "another strategy");
  Location loc = op.getLoc();
  Value x = adaptor.getInput(), scales = adaptor.getScales();
  RankedTensorType resultType = op.getResult().getType();
  int64_t rank = resultType.getRank();

  // N from the op: the weight may be in a kernel's own layout (with a
  // static N), or N is the scales' rows.
  SmallVector<Value> dynamicSizes;
  for (int64_t dim = 0; dim + 1 < rank; ++dim)
    appendIfDynamic(rewriter, loc, x, dim, dynamicSizes);
  SmallVector<int64_t> shape(cast<RankedTensorType>(x.getType()).getShape());
  shape.back() = op.getOutputFeatures();
  if (ShapedType::isDynamic(shape.back()))
    appendIfDynamic(rewriter, loc, scales, 1, dynamicSizes);
  Value accumulator = zeroFilled(
      rewriter, loc,
      emptyTensor(rewriter, loc, shape, rewriter.getF32Type(), dynamicSizes));

  MatmulOperands operands{x, adaptor.getSigns(), scales,
                          static_cast<int64_t>(op.getGroupSize()), kernel};
  Value product = denseProduct(rewriter, loc, operands, accumulator);
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

KernelDims KernelDims::of(const MatmulOperands &operands, int64_t rows) {
  auto signs = cast<RankedTensorType>(operands.signs.getType());
  return {rows,
          signs.getDimSize(1),
          operands.columns(),
          signs.getDimSize(0),
          operands.groupSize,
          signs.getDimSize(2),
          cast<RankedTensorType>(operands.x.getType()).getElementType()};
}

KernelBuffers KernelBuffers::create(OpBuilder &builder, Location loc,
                                    const MatmulOperands &operands,
                                    Value accumulator) {
  Value accumulatorRows = asRowMatrix(builder, loc, accumulator);
  auto rowsType = cast<RankedTensorType>(accumulatorRows.getType());
  return {readBuffer(builder, loc, asRowMatrix(builder, loc, operands.x)),
          readBuffer(builder, loc, operands.signs),
          readBuffer(builder, loc, operands.scales),
          readBuffer(builder, loc, accumulatorRows),
          memref::AllocOp::create(
              builder, loc,
              MemRefType::get(rowsType.getShape(), rowsType.getElementType())),
          rowsType};
}

Value KernelBuffers::resultTensor(OpBuilder &builder, Location loc,
                                  Value accumulator) const {
  Value tensor = bufferization::ToTensorOp::create(
      builder, loc, rowsType, result, /*restrict=*/true, /*writable=*/true);
  return fromRowMatrix(builder, loc, tensor, accumulator);
}

namespace {

/// An r2q.matmul whose kernel chooses by rows becomes one of a single
/// strategy: the chosen one when the rows are static, an scf.if between the
/// two otherwise.
struct ChooseStrategyByRows : OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    KernelAttr kernel = kernelOf(op);
    if (!kernel.getOtherwise())
      return rewriter.notifyMatchFailure(op, "a single strategy");
    Location loc = op.getLoc();
    OpFoldResult rows = activationRows(rewriter, loc, adaptor.getInput());
    if (std::optional<int64_t> staticRows = getConstantIntValue(rows)) {
      rewriter.modifyOpInPlace(op, [&] {
        op.setKernelAttr(kernel.withOnly(kernel.strategyFor(*staticRows)));
      });
      return success();
    }
    Value few = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::ule, cast<Value>(rows),
        index(rewriter, loc, kernel.getMaxRows()));
    auto branch = [&](KernelStrategy strategy) {
      return [&, strategy](OpBuilder &b, Location l) {
        Operation *copy = b.clone(*op);
        cast<MatmulOp>(copy).setKernelAttr(kernel.withOnly(strategy));
        scf::YieldOp::create(b, l, copy->getResults());
      };
    };
    rewriter.replaceOpWithNewOp<scf::IfOp>(
        op, few, branch(kernel.getStrategy()), branch(*kernel.getOtherwise()));
    return success();
  }
};

/// Offsets, sizes and strides of the features [first, first + count) of the
/// last dimension of `tensor`.
struct Slice {
  SmallVector<OpFoldResult> offsets, sizes, strides;
};

/// The entries [first, first + count) of dimension `dim` of `tensor`.
Slice dimensionSlice(OpBuilder &builder, Location loc, Value tensor,
                     int64_t dim, Value first, Value count) {
  int64_t rank = cast<RankedTensorType>(tensor.getType()).getRank();
  Slice slice;
  slice.offsets.assign(rank, builder.getIndexAttr(0));
  slice.offsets[dim] = first;
  slice.sizes = tensor::getMixedSizes(builder, loc, tensor);
  slice.sizes[dim] = count;
  slice.strides.assign(rank, builder.getIndexAttr(1));
  return slice;
}

Slice featureSlice(OpBuilder &builder, Location loc, Value tensor, Value first,
                   Value count) {
  int64_t rank = cast<RankedTensorType>(tensor.getType()).getRank();
  return dimensionSlice(builder, loc, tensor, rank - 1, first, count);
}

/// Entry `part` of the leading dimension of `tensor`.
Slice partSlice(OpBuilder &builder, Location loc, Value tensor, Value part) {
  int64_t rank = cast<RankedTensorType>(tensor.getType()).getRank();
  Slice slice;
  slice.offsets.assign(rank, builder.getIndexAttr(0));
  slice.offsets.front() = part;
  slice.sizes = tensor::getMixedSizes(builder, loc, tensor);
  slice.sizes.front() = builder.getIndexAttr(1);
  slice.strides.assign(rank, builder.getIndexAttr(1));
  return slice;
}

/// `tensor`'s entry `part`, without its leading dimension.
Value extractPart(OpBuilder &builder, Location loc, Value tensor, Value part) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto partType = RankedTensorType::get(type.getShape().drop_front(),
                                        type.getElementType());
  Slice slice = partSlice(builder, loc, tensor, part);
  return tensor::ExtractSliceOp::create(builder, loc, partType, tensor,
                                        slice.offsets, slice.sizes,
                                        slice.strides);
}

/// The features of part `part` of `parts`: whole units of `unitRows`, the
/// units split as evenly as they go, none past `features`.
std::pair<Value, Value> partRange(OpBuilder &builder, Location loc, Value part,
                                  int64_t parts, Value features,
                                  int64_t unitRows) {
  Value unit = index(builder, loc, unitRows);
  Value units = arith::CeilDivUIOp::create(builder, loc, features, unit);
  auto boundary = [&](Value p) {
    Value units_before = arith::DivUIOp::create(
        builder, loc, arith::MulIOp::create(builder, loc, p, units),
        index(builder, loc, parts));
    return arith::MinUIOp::create(
        builder, loc, arith::MulIOp::create(builder, loc, units_before, unit),
        features);
  };
  Value first = boundary(part);
  Value end = boundary(
      arith::AddIOp::create(builder, loc, part, index(builder, loc, 1)));
  return {first, arith::SubIOp::create(builder, loc, end, first)};
}

} // namespace

Value largestPartFeatures(OpBuilder &builder, Location loc, int64_t parts,
                          Value features, int64_t unitRows) {
  // partRange gives a part at most ceil(units / parts) units.
  Value unit = index(builder, loc, unitRows);
  Value units = arith::CeilDivUIOp::create(builder, loc, features, unit);
  return arith::MulIOp::create(
      builder, loc,
      arith::CeilDivUIOp::create(builder, loc, units,
                                 index(builder, loc, parts)),
      unit);
}

namespace {

/// What one part of a parallel loop writes into a shared tensor.
struct PartUpdate {
  Value value;
  Slice slice;
};

/// Runs `body` on part = 0 .. parts - 1 of an scf.forall over the `shared`
/// tensors; `body` returns, per shared tensor, the part's updated slice and
/// where it goes. Returns the updated tensors.
SmallVector<Value> forallParts(
    OpBuilder &builder, Location loc, int64_t parts, ValueRange shared,
    const std::function<SmallVector<PartUpdate>(OpBuilder &, Location, Value,
                                                ValueRange)> &body) {
  auto forall = scf::ForallOp::create(
      builder, loc, ArrayRef<OpFoldResult>{builder.getIndexAttr(parts)}, shared,
      std::nullopt, [&](OpBuilder &b, Location l, ValueRange args) {
        // The slices' sizes (tensor.dim of dynamic ones) are computed in
        // the body: the terminator takes only the inserts.
        SmallVector<PartUpdate> updates =
            body(b, l, args.front(), args.drop_front());
        auto terminator = scf::InParallelOp::create(b, l);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(terminator.getBody());
        for (auto [update, tensor] :
             llvm::zip_equal(updates, args.drop_front()))
          tensor::ParallelInsertSliceOp::create(
              b, l, update.value, tensor, update.slice.offsets,
              update.slice.sizes, update.slice.strides);
      });
  return forall.getResults();
}

} // namespace

Value splitFeatures(OpBuilder &builder, Location loc, KernelAttr kernel,
                    Value features, int64_t unitRows, Value accumulator,
                    ValueRange scratch, const FeaturePartBody &body) {
  int64_t parts = kernel.getThreads();
  if (parts == 1) {
    FeaturePart whole{index(builder, loc, 0), features, accumulator, {}};
    Value part = index(builder, loc, 0);
    for (Value buffer : scratch)
      whole.scratch.push_back(extractPart(builder, loc, buffer, part));
    return body(builder, loc, whole).front();
  }
  SmallVector<Value> shared = {accumulator};
  llvm::append_range(shared, scratch);
  return forallParts(
             builder, loc, parts, shared,
             [&](OpBuilder &b, Location l, Value part, ValueRange outs) {
               auto [first, count] =
                   partRange(b, l, part, parts, features, unitRows);
               Slice outputSlice =
                   featureSlice(b, l, outs.front(), first, count);
               FeaturePart region{first,
                                  count,
                                  tensor::ExtractSliceOp::create(
                                      b, l, outs.front(), outputSlice.offsets,
                                      outputSlice.sizes, outputSlice.strides),
                                  {}};
               for (Value buffer : outs.drop_front())
                 region.scratch.push_back(extractPart(b, l, buffer, part));
               SmallVector<Value> updated = body(b, l, region);
               SmallVector<PartUpdate> updates = {
                   {updated.front(), outputSlice}};
               for (auto [value, buffer] :
                    llvm::zip_equal(ArrayRef<Value>(updated).drop_front(),
                                    outs.drop_front()))
                 updates.push_back({value, partSlice(b, l, buffer, part)});
               return updates;
             })
      .front();
}

SmallVector<Value> splitColumns(OpBuilder &builder, Location loc,
                                KernelAttr kernel, int64_t units, int64_t dim,
                                ValueRange tensors, ArrayRef<int64_t> unitSizes,
                                const ColumnPartBody &body) {
  int64_t parts = std::min<int64_t>(kernel.getThreads(), units);
  if (parts <= 1)
    return body(builder, loc, index(builder, loc, 0),
                index(builder, loc, units), tensors);
  return forallParts(
      builder, loc, parts, tensors,
      [&](OpBuilder &b, Location l, Value part, ValueRange shared) {
        auto [first, count] =
            partRange(b, l, part, parts, index(b, l, units), 1);
        SmallVector<Slice> slices;
        SmallVector<Value> partSlices;
        for (auto [tensor, unitSize] : llvm::zip_equal(shared, unitSizes)) {
          slices.push_back(dimensionSlice(b, l, tensor, dim,
                                          mulIndex(b, l, first, unitSize),
                                          mulIndex(b, l, count, unitSize)));
          partSlices.push_back(tensor::ExtractSliceOp::create(
              b, l, tensor, slices.back().offsets, slices.back().sizes,
              slices.back().strides));
        }
        SmallVector<PartUpdate> updates;
        for (auto [value, slice] :
             llvm::zip_equal(body(b, l, first, count, partSlices), slices))
          updates.push_back({value, slice});
        return updates;
      });
}

} // namespace r2q::lowering

namespace r2q {

void populateMatmulToLinalgPatterns(RewritePatternSet &patterns,
                                    bool gpuLaunch) {
  patterns.add<lowering::ChooseStrategyByRows>(patterns.getContext());
  lowering::populateFusedDecodePatterns(patterns);
  lowering::populateTiledDecodePatterns(patterns);
  lowering::populateVectorGemvPatterns(patterns);
  lowering::populateLutGemvPatterns(patterns);
  lowering::populateInt8GemmPatterns(patterns);
  lowering::populateWarpGemvPatterns(patterns, gpuLaunch);
  lowering::populateMmaGemmPatterns(patterns, gpuLaunch);
  lowering::populateByteLutGemvPatterns(patterns, gpuLaunch);
}

} // namespace r2q
