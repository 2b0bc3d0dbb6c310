//===- R2QDialect.cpp - The r2q dialect -----------------------------------===//

#include "r2q/Dialect/R2Q/IR/R2Q.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

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
