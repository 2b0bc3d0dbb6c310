//===- OutlineKernels.cpp - One kernel function per distinct r2q.matmul ---===//
//
// Lowering and bufferizing an r2q.matmul produces loops whose cost at compile
// time is paid once per op; a model exported as one function has hundreds of
// layers but only a handful of distinct layer kinds. Each distinct
// (operand and result types, attributes) becomes one private function that
// the layers call.
//
//===----------------------------------------------------------------------===//

#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/Support/FormatVariadic.h"

#include <tuple>

namespace r2q {
#define GEN_PASS_DEF_R2QOUTLINEKERNELSPASS
#include "r2q/Dialect/R2Q/Transforms/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

/// A layer's name: it stays on the call and does not make a kernel distinct.
constexpr llvm::StringLiteral kLayerAttrName = "r2q.layer";

/// Every attribute of `op` that affects how it is computed (all but the
/// layer name).
DictionaryAttr kernelAttributes(MatmulOp op) {
  NamedAttrList attributes(op->getAttrDictionary());
  attributes.erase(kLayerAttrName);
  return attributes.getDictionary(op.getContext());
}

/// `r2q_matmul_<N>x<K>_g<G>`: what a reader of the IR or of a profile needs
/// to tell kernels apart; the symbol table appends a counter on a clash.
std::string kernelName(MatmulOp op) {
  auto input = cast<RankedTensorType>(op.getInput().getType());
  return llvm::formatv("r2q_matmul_{0}x{1}_g{2}", op.getOutputFeatures(),
                       input.getShape().back(), op.getGroupSize())
      .str();
}

/// Whether `function` is what this pass creates: private, never inlined,
/// returning one r2q.matmul of its arguments. (Recognized by form, not by a
/// marker attribute, so that nothing r2q-specific is left on the lowered
/// function.)
bool isKernel(func::FuncOp function) {
  if (!function.isPrivate() || !function.getNoInline() ||
      !llvm::hasSingleElement(function.getBody()))
    return false;
  Block &body = function.getBody().front();
  auto matmul = dyn_cast<MatmulOp>(body.front());
  return matmul && llvm::equal(matmul->getOperands(), body.getArguments()) &&
         llvm::equal(body.getTerminator()->getOperands(),
                     matmul->getResults()) &&
         matmul->getNextNode() == body.getTerminator();
}

/// The r2q.matmul ops in func.func bodies, outside kernels.
SmallVector<MatmulOp> outlinableMatmuls(Operation *root) {
  SmallVector<MatmulOp> matmuls;
  root->walk([&](MatmulOp op) {
    auto function = op->getParentOfType<func::FuncOp>();
    if (function && !isKernel(function))
      matmuls.push_back(op);
  });
  return matmuls;
}

/// `value` cast to a 1-D tensor of dynamic size, unless it is one already.
Value withDynamicSize(OpBuilder &builder, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.isDynamicDim(0))
    return value;
  return tensor::CastOp::create(
      builder, value.getLoc(),
      RankedTensorType::get({ShapedType::kDynamic}, type.getElementType()),
      value);
}

/// The call operands of `op`'s kernel: its operands, with the outliers'
/// columns and values cast to a dynamic size, since their number differs
/// from layer to layer and must not make kernels distinct.
SmallVector<Value> callOperands(OpBuilder &builder, MatmulOp op) {
  SmallVector<Value> operands(op->getOperands());
  if (!op.hasOutliers())
    return operands;
  for (OpOperand *outlierOperand :
       {&op.getOutlierColumnsMutable()[0], &op.getOutlierValuesMutable()[0]}) {
    unsigned index = outlierOperand->getOperandNumber();
    operands[index] = withDynamicSize(builder, operands[index]);
  }
  return operands;
}

/// Creates kernels on demand, one per symbol table and signature.
class KernelOutliner {
public:
  void outline(MatmulOp op) {
    OpBuilder builder(op);
    SmallVector<Value> operands = callOperands(builder, op);
    func::FuncOp kernel =
        getOrCreateKernel(op, ValueRange(operands).getTypes());
    auto call = func::CallOp::create(builder, op.getLoc(), kernel, operands);
    if (Attribute layer = op->getAttr(kLayerAttrName))
      call->setAttr(kLayerAttrName, layer);
    op.getResult().replaceAllUsesWith(call.getResult(0));
    op.erase();
  }

private:
  func::FuncOp getOrCreateKernel(MatmulOp op, TypeRange operandTypes) {
    Operation *symbolTableOp =
        SymbolTable::getNearestSymbolTable(op->getParentOfType<func::FuncOp>());
    auto type =
        FunctionType::get(op.getContext(), operandTypes, op->getResultTypes());
    func::FuncOp &kernel = kernels[{symbolTableOp, type, kernelAttributes(op)}];
    if (!kernel)
      kernel =
          createKernel(op, type, symbolTables.getSymbolTable(symbolTableOp));
    return kernel;
  }

  /// A private, never inlined function whose body is `op` alone.
  static func::FuncOp createKernel(MatmulOp op, FunctionType type,
                                   SymbolTable &symbolTable) {
    OpBuilder builder(op.getContext());
    auto kernel =
        func::FuncOp::create(builder, op.getLoc(), kernelName(op), type);
    kernel.setPrivate();
    kernel.setNoInline(true);
    Block *body = kernel.addEntryBlock();
    builder.setInsertionPointToStart(body);
    IRMapping operandsToArguments;
    operandsToArguments.map(op->getOperands(), body->getArguments());
    Operation *matmul = builder.clone(*op, operandsToArguments);
    matmul->removeAttr(kLayerAttrName);
    func::ReturnOp::create(builder, op.getLoc(), matmul->getResults());
    symbolTable.insert(kernel);
    return kernel;
  }

  SymbolTableCollection symbolTables;
  DenseMap<std::tuple<Operation *, Type, Attribute>, func::FuncOp> kernels;
};

class OutlineKernelsPass
    : public impl::R2QOutlineKernelsPassBase<OutlineKernelsPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    SmallVector<MatmulOp> matmuls = outlinableMatmuls(getOperation());
    // Constant outliers are checked while they are still constants; in a
    // kernel they are arguments.
    if (llvm::any_of(matmuls, [](MatmulOp op) {
          return failed(op.verifyConstantOutliers());
        }))
      return signalPassFailure();
    KernelOutliner outliner;
    for (MatmulOp op : matmuls)
      outliner.outline(op);
  }
};

} // namespace
} // namespace r2q
