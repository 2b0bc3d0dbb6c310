//===- Contraction.h - Contractions of the decoding strategies --*- C++ -*-===//

#ifndef R2Q_LIB_CONVERSION_R2QTOLINALG_CONTRACTION_H
#define R2Q_LIB_CONVERSION_R2QTOLINALG_CONTRACTION_H

#include "TensorBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AffineMap.h"

namespace r2q::lowering {

/// Maps of a contraction over loops (leading..., rest...) of `loops` loops.
struct LoopSpace {
  mlir::MLIRContext *context;
  unsigned leading;
  unsigned loops;

  mlir::AffineExpr dim(unsigned loop) const {
    return mlir::getAffineDimExpr(loop, context);
  }
  /// (leading..., `extra`...) -> as an indexing map.
  mlir::AffineMap withLeading(llvm::ArrayRef<unsigned> extra) const {
    llvm::SmallVector<mlir::AffineExpr> results;
    for (unsigned loop = 0; loop < leading; ++loop)
      results.push_back(dim(loop));
    for (unsigned loop : extra)
      results.push_back(dim(loop));
    return mlir::AffineMap::get(loops, 0, results, context);
  }
  mlir::AffineMap of(llvm::ArrayRef<unsigned> dims) const {
    llvm::SmallVector<mlir::AffineExpr> results;
    for (unsigned loop : dims)
      results.push_back(dim(loop));
    return mlir::AffineMap::get(loops, 0, results, context);
  }
};

/// acc + x * w with reduction-friendly fast-math flags.
inline mlir::Value multiplyAdd(mlir::OpBuilder &builder, mlir::Location loc,
                               mlir::Value accumulator, mlir::Value activation,
                               mlir::Value weight) {
  auto reassociable = mlir::arith::FastMathFlagsAttr::get(
      builder.getContext(), mlir::arith::FastMathFlags::reassoc |
                                mlir::arith::FastMathFlags::contract);
  mlir::Value term = mlir::arith::MulFOp::create(
      builder, loc,
      convertFloat(builder, loc, activation, builder.getF32Type()), weight,
      reassociable);
  return mlir::arith::AddFOp::create(builder, loc, accumulator, term,
                                     reassociable);
}

} // namespace r2q::lowering

#endif // R2Q_LIB_CONVERSION_R2QTOLINALG_CONTRACTION_H
