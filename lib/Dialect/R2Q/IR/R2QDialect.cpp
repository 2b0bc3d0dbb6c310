//===- R2QDialect.cpp - The r2q dialect -----------------------------------===//

#include "r2q/Dialect/R2Q/IR/R2Q.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace r2q;

#include "r2q/Dialect/R2Q/IR/R2QDialect.cpp.inc"

void R2QDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "r2q/Dialect/R2Q/IR/R2QOps.cpp.inc"
      >();
}

Operation *R2QDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                           Type type, Location loc) {
  if (arith::ConstantOp::isBuildableWith(value, type))
    return arith::ConstantOp::create(builder, loc, type,
                                     cast<TypedAttr>(value));
  return nullptr;
}

LogicalResult R2QDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attribute) {
  // Other r2q.* attributes (r2q.layer, ...) are checked where they are read.
  if (attribute.getName() != getLayerSchemeAttrName())
    return success();
  if (!isa<SchemeAttr>(attribute.getValue()))
    return op->emitError() << "'" << getLayerSchemeAttrName()
                           << "' must be a #r2q.scheme<...>, not "
                           << attribute.getValue();
  return success();
}

LogicalResult R2QDialect::verifyRegionArgAttribute(Operation *op,
                                                   unsigned regionIndex,
                                                   unsigned argIndex,
                                                   NamedAttribute attribute) {
  if (attribute.getName() != getWeightArgAttrName())
    return op->emitError() << "unknown r2q argument attribute '"
                           << attribute.getName().getValue() << "'";
  if (!isa<UnitAttr>(attribute.getValue()))
    return op->emitError() << "'" << getWeightArgAttrName()
                           << "' takes no value";
  // The mark has served its purpose once functions are lowered to LLVM
  // (convert-func-to-llvm copies argument attributes onto pointers).
  if (isa<LLVM::LLVMFuncOp>(op))
    return success();
  auto function = dyn_cast<FunctionOpInterface>(op);
  if (!function || regionIndex != 0)
    return op->emitError() << "'" << getWeightArgAttrName()
                           << "' marks arguments of functions only";
  // A tensor, or the memref it becomes when the function is bufferized.
  auto type = dyn_cast<ShapedType>(function.getArgumentTypes()[argIndex]);
  if (!type || !type.hasRank() || type.getRank() != 2 ||
      !type.hasStaticShape() || !isa<FloatType>(type.getElementType()))
    return op->emitError() << "'" << getWeightArgAttrName() << "' on argument "
                           << argIndex
                           << ": a weight must be a static 2-D float tensor, "
                           << "got " << function.getArgumentTypes()[argIndex];
  return success();
}
