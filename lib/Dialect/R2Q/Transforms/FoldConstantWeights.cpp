//===- FoldConstantWeights.cpp - Quantize constant weights of any size ----===//
//
// The explicit pass that evaluates r2q ops on constants of any size; the ops'
// fold hooks evaluate small ones only (ConstantFolding.h).
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantFolding.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

namespace r2q {
#define GEN_PASS_DEF_R2QFOLDCONSTANTWEIGHTSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// The constant value of each operand of `op`, or nullopt if one is not a
/// constant.
std::optional<SmallVector<Attribute>> getConstantOperands(Operation *op) {
  SmallVector<Attribute> operands;
  for (Value operand : op->getOperands()) {
    Attribute value;
    if (!matchPattern(operand, m_Constant(&value)))
      return std::nullopt;
    operands.push_back(value);
  }
  return operands;
}

/// Replaces `op` by constants of `values` (for the results something reads)
/// and erases the constants it read when nothing else uses them.
void replaceByConstants(RewriterBase &rewriter, Operation *op,
                        ArrayRef<Attribute> values) {
  rewriter.setInsertionPoint(op);
  SmallVector<Value> constants;
  for (auto [result, value] : llvm::zip_equal(op->getResults(), values))
    constants.push_back(result.use_empty()
                            ? Value()
                            : arith::ConstantOp::create(rewriter, op->getLoc(),
                                                        cast<TypedAttr>(value))
                                  .getResult());
  SmallVector<Operation *> producers;
  for (Value operand : op->getOperands())
    producers.push_back(operand.getDefiningOp());
  rewriter.replaceOp(op, constants);
  for (Operation *producer : producers)
    if (producer && isOpTriviallyDead(producer))
      rewriter.eraseOp(producer);
}

class FoldConstantWeightsPass
    : public impl::R2QFoldConstantWeightsPassBase<FoldConstantWeightsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    // Program order, so a fold's results are constant for the ops after it.
    SmallVector<Operation *> candidates;
    getOperation()->walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isConstantFoldable(op))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : candidates)
      if (failed(fold(rewriter, op)))
        signalPassFailure();
  }

private:
  /// Folds `op` if its operands are constants; fails with an error at `op`
  /// when they are but cannot be evaluated.
  LogicalResult fold(RewriterBase &rewriter, Operation *op) {
    std::optional<SmallVector<Attribute>> operands = getConstantOperands(op);
    if (!operands)
      return success(); // Runtime data: lowered, not folded.
    SmallVector<Attribute> results;
    if (quant::Status status = evaluateOnConstants(op, *operands, results);
        !status)
      return op->emitOpError("cannot be folded at compile time: ")
             << status.message();
    replaceByConstants(rewriter, op, results);
    return success();
  }
};

} // namespace
} // namespace r2q
