//===- PrepareCPULoops.cpp - Constant transposes and loop order -----------===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cstring>

namespace r2q {
#define GEN_PASS_DEF_R2QPREPARECPULOOPSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// The bytes of a rows x cols row-major matrix of `elementBytes`-wide
/// elements, transposed.
std::vector<char> transposeBytes(ArrayRef<char> data, int64_t rows,
                                 int64_t cols, size_t elementBytes) {
  std::vector<char> result(data.size());
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t col = 0; col < cols; ++col)
      std::memcpy(&result[(col * rows + row) * elementBytes],
                  &data[(row * cols + col) * elementBytes], elementBytes);
  return result;
}

/// linalg.transpose of a 2-D constant -> the transposed constant.
struct FoldConstantTranspose : OpRewritePattern<linalg::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::TransposeOp op,
                                PatternRewriter &rewriter) const override {
    auto constant = op.getInput().getDefiningOp<arith::ConstantOp>();
    auto resultType = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    if (!constant || !resultType || resultType.getRank() != 2 ||
        !resultType.getElementType().isIntOrFloat())
      return rewriter.notifyMatchFailure(op, "not a 2-D constant transpose");
    auto attr = cast<ElementsAttr>(constant.getValue());
    if (auto dense = dyn_cast<DenseElementsAttr>(attr);
        dense && dense.isSplat()) {
      rewriter.replaceOpWithNewOp<arith::ConstantOp>(
          op, dense.resizeSplat(resultType));
      return success();
    }
    std::optional<ArrayRef<char>> data = getContiguousData(attr);
    unsigned bits = resultType.getElementTypeBitWidth();
    if (!data || bits % 8 != 0)
      return rewriter.notifyMatchFailure(op, "constant data not readable");
    std::vector<char> transposed = transposeBytes(
        *data, resultType.getDimSize(1), resultType.getDimSize(0), bits / 8);
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(
        op, makeConstantData(resultType, transposed, "transposed_constant"));
    return success();
  }
};

/// Moves the parallel loop of a contraction's innermost output dimension
/// innermost when a reduction loop is there and every operand that loop
/// indexes has it as its innermost dimension (so the new inner loop walks
/// contiguous memory everywhere it reads or writes).
struct InnermostOutputLoop : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    unsigned loops = op.getNumLoops();
    if (op.getNumDpsInits() != 1 || loops < 2 ||
        op.getIteratorTypesArray().back() != utils::IteratorType::reduction)
      return rewriter.notifyMatchFailure(op, "innermost loop is parallel");
    AffineMap outputMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
    if (outputMap.getNumResults() == 0)
      return rewriter.notifyMatchFailure(op, "scalar output");
    auto innermost = dyn_cast<AffineDimExpr>(outputMap.getResults().back());
    if (!innermost)
      return rewriter.notifyMatchFailure(op, "output not indexed by a loop");
    unsigned loop = innermost.getPosition();
    for (AffineMap map : op.getIndexingMapsArray())
      if (map.isFunctionOfDim(loop) &&
          map.getResults().back() != getAffineDimExpr(loop, getContext()))
        return rewriter.notifyMatchFailure(op, "loop strides an operand");
    SmallVector<unsigned> order;
    for (unsigned other = 0; other < loops; ++other)
      if (other != loop)
        order.push_back(other);
    order.push_back(loop);
    return linalg::interchangeGenericOp(rewriter, op, order);
  }
};

/// Gives every use of a `tensor.empty` its own copy. CSE merges identical
/// empty tensors, which puts every layer's output buffer into one alias set:
/// One-Shot Bufferize then checks each write against all the others, and its
/// analysis grows with the square of the number of layers.
struct OneEmptyTensorPerUse : OpRewritePattern<tensor::EmptyOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tensor::EmptyOp op,
                                PatternRewriter &rewriter) const override {
    if (op->hasOneUse() || op->use_empty())
      return rewriter.notifyMatchFailure(op, "at most one use");
    SmallVector<OpOperand *> laterUses = llvm::map_to_vector(
        llvm::drop_begin(op->getUses()), [](OpOperand &use) { return &use; });
    for (OpOperand *use : laterUses) {
      Operation *copy = rewriter.clone(*op);
      rewriter.modifyOpInPlace(use->getOwner(),
                               [&] { use->set(copy->getResult(0)); });
    }
    return success();
  }
};

class PrepareCPULoopsPass
    : public impl::R2QPrepareCPULoopsPassBase<PrepareCPULoopsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FoldConstantTranspose>(&getContext(), /*benefit=*/2);
    patterns.add<InnermostOutputLoop, OneEmptyTensorPerUse>(&getContext());
    linalg::populateLinalgNamedOpsGeneralizationPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace r2q
