//===- VectorBuilders.h - Index, loop and vector helpers of the kernels -*-===//
//
// The small builders that the hand-written vector kernels of
// convert-r2q-to-linalg (one file per strategy) share: index arithmetic,
// counted scf.for loops carrying values, splat constants and calls of LLVM
// intrinsics on builtin vectors.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_LIB_CONVERSION_R2QTOLINALG_VECTORBUILDERS_H
#define R2Q_LIB_CONVERSION_R2QTOLINALG_VECTORBUILDERS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <functional>

namespace r2q::lowering {

inline mlir::Value index(mlir::OpBuilder &builder, mlir::Location loc,
                         int64_t value) {
  return mlir::arith::ConstantIndexOp::create(builder, loc, value);
}

inline mlir::Value mulIndex(mlir::OpBuilder &builder, mlir::Location loc,
                            mlir::Value value, int64_t factor) {
  return mlir::arith::MulIOp::create(builder, loc, value,
                                     index(builder, loc, factor));
}

inline mlir::Value addIndex(mlir::OpBuilder &builder, mlir::Location loc,
                            mlir::Value value, int64_t offset) {
  return offset ? mlir::arith::AddIOp::create(builder, loc, value,
                                              index(builder, loc, offset))
                      .getResult()
                : value;
}

inline mlir::Value f32Constant(mlir::OpBuilder &builder, mlir::Location loc,
                               float value) {
  return mlir::arith::ConstantOp::create(builder, loc,
                                         builder.getF32FloatAttr(value));
}

/// A vector of zeros of `type`.
inline mlir::Value zeros(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::VectorType type) {
  return mlir::arith::ConstantOp::create(builder, loc,
                                         builder.getZeroAttr(type));
}

/// A vector constant of `type` with every element `value` (integer or
/// float elements).
inline mlir::Value splat(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::VectorType type, double value) {
  mlir::Type element = type.getElementType();
  mlir::TypedAttr scalar =
      mlir::isa<mlir::FloatType>(element)
          ? mlir::TypedAttr(builder.getFloatAttr(element, value))
          : mlir::TypedAttr(
                builder.getIntegerAttr(element, static_cast<int64_t>(value)));
  return mlir::arith::ConstantOp::create(
      builder, loc, mlir::DenseElementsAttr::get(type, scalar));
}

/// for (i = begin; i < end; ++i) carrying `initial`; `body(b, l, i,
/// carried)` returns the values to carry on.
template <typename BodyFn>
llvm::SmallVector<mlir::Value>
countedLoop(mlir::OpBuilder &builder, mlir::Location loc, mlir::Value begin,
            mlir::Value end, mlir::ValueRange initial, BodyFn body) {
  auto loop = mlir::scf::ForOp::create(
      builder, loc, begin, end, index(builder, loc, 1), initial,
      [&](mlir::OpBuilder &b, mlir::Location l, mlir::Value i,
          mlir::ValueRange carried) {
        mlir::scf::YieldOp::create(b, l, body(b, l, i, carried));
      });
  return llvm::SmallVector<mlir::Value>(loop.getResults());
}

/// `body(i)` in an scf.for i = 0 to `count`, built with `builder` (whose
/// insertion point is inside the loop while `body` runs).
inline void forRange(mlir::OpBuilder &builder, mlir::Location loc,
                     int64_t count,
                     const std::function<void(mlir::Value)> &body) {
  mlir::scf::ForOp::create(
      builder, loc, index(builder, loc, 0), index(builder, loc, count),
      index(builder, loc, 1), mlir::ValueRange{},
      [&](mlir::OpBuilder &b, mlir::Location l, mlir::Value i,
          mlir::ValueRange) {
        mlir::OpBuilder::InsertionGuard guard(builder);
        builder.setInsertionPoint(b.getInsertionBlock(), b.getInsertionPoint());
        body(i);
        mlir::scf::YieldOp::create(b, l);
      });
}

/// The 4 signed sums of a pair of f32 values, indexed by their two sign
/// bits (bit 0 for `a`, bit 1 for `b`; a set bit is -1): a + b, -a + b,
/// a - b, -a - b. The tables of the lookup kernels are built from them.
inline llvm::SmallVector<mlir::Value> signedPairSums(mlir::OpBuilder &builder,
                                                     mlir::Location loc,
                                                     mlir::Value a,
                                                     mlir::Value b) {
  mlir::Value negA = mlir::arith::NegFOp::create(builder, loc, a);
  mlir::Value negB = mlir::arith::NegFOp::create(builder, loc, b);
  return {mlir::arith::AddFOp::create(builder, loc, a, b),
          mlir::arith::AddFOp::create(builder, loc, negA, b),
          mlir::arith::AddFOp::create(builder, loc, a, negB),
          mlir::arith::AddFOp::create(builder, loc, negA, negB)};
}

/// value < bound, unsigned (indices).
inline mlir::Value lessThan(mlir::OpBuilder &builder, mlir::Location loc,
                            mlir::Value value, int64_t bound) {
  return mlir::arith::CmpIOp::create(builder, loc,
                                     mlir::arith::CmpIPredicate::ult, value,
                                     index(builder, loc, bound));
}

/// min(value, last), unsigned (indices).
inline mlir::Value clampIndex(mlir::OpBuilder &builder, mlir::Location loc,
                              mlir::Value value, int64_t last) {
  return mlir::arith::MinUIOp::create(builder, loc, value,
                                      index(builder, loc, last));
}

/// `body()` under scf.if `condition`.
inline void ifThen(mlir::OpBuilder &builder, mlir::Location loc,
                   mlir::Value condition, const std::function<void()> &body) {
  mlir::scf::IfOp::create(
      builder, loc, condition, [&](mlir::OpBuilder &b, mlir::Location l) {
        mlir::OpBuilder::InsertionGuard guard(builder);
        builder.setInsertionPoint(b.getInsertionBlock(), b.getInsertionPoint());
        body();
        mlir::scf::YieldOp::create(b, l);
      });
}

/// scf.if `condition` yielding the values `thenBody()` or `elseBody()`
/// returns (of the same types), both built with `builder`.
inline llvm::SmallVector<mlir::Value> ifThenElseYield(
    mlir::OpBuilder &builder, mlir::Location loc, mlir::Value condition,
    const std::function<llvm::SmallVector<mlir::Value>()> &thenBody,
    const std::function<llvm::SmallVector<mlir::Value>()> &elseBody) {
  auto branch =
      [&](const std::function<llvm::SmallVector<mlir::Value>()> &body) {
        return [&](mlir::OpBuilder &b, mlir::Location l) {
          mlir::OpBuilder::InsertionGuard guard(builder);
          builder.setInsertionPoint(b.getInsertionBlock(),
                                    b.getInsertionPoint());
          mlir::scf::YieldOp::create(b, l, body());
        };
      };
  auto op = mlir::scf::IfOp::create(builder, loc, condition, branch(thenBody),
                                    branch(elseBody));
  return llvm::SmallVector<mlir::Value>(op.getResults());
}

/// scf.if `condition` with two bodies that yield nothing, both built with
/// `builder`.
inline void ifThenElse(mlir::OpBuilder &builder, mlir::Location loc,
                       mlir::Value condition,
                       const std::function<void()> &thenBody,
                       const std::function<void()> &elseBody) {
  auto yieldNothing = [](const std::function<void()> &body) {
    return [&body] {
      body();
      return llvm::SmallVector<mlir::Value>();
    };
  };
  ifThenElseYield(builder, loc, condition, yieldNothing(thenBody),
                  yieldNothing(elseBody));
}

/// scf.for i = first to end step `step` carrying `initial`; `body(i,
/// carried)` is built with `builder` and returns the values to carry on.
inline llvm::SmallVector<mlir::Value>
stridedLoop(mlir::OpBuilder &builder, mlir::Location loc, mlir::Value first,
            mlir::Value end, int64_t step, mlir::ValueRange initial,
            const std::function<llvm::SmallVector<mlir::Value>(
                mlir::Value, mlir::ValueRange)> &body) {
  auto loop = mlir::scf::ForOp::create(
      builder, loc, first, end, index(builder, loc, step), initial,
      [&](mlir::OpBuilder &b, mlir::Location l, mlir::Value i,
          mlir::ValueRange carried) {
        mlir::OpBuilder::InsertionGuard guard(builder);
        builder.setInsertionPoint(b.getInsertionBlock(), b.getInsertionPoint());
        mlir::scf::YieldOp::create(b, l, body(i, carried));
      });
  return llvm::SmallVector<mlir::Value>(loop.getResults());
}

/// `body(i)` for i = first, first + step, ... below `end`.
inline void stridedRange(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::Value first, mlir::Value end, int64_t step,
                         const std::function<void(mlir::Value)> &body) {
  stridedLoop(builder, loc, first, end, step, {},
              [&](mlir::Value i, mlir::ValueRange) {
                body(i);
                return llvm::SmallVector<mlir::Value>();
              });
}

inline void stridedRange(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::Value first, int64_t end, int64_t step,
                         const std::function<void(mlir::Value)> &body) {
  stridedRange(builder, loc, first, index(builder, loc, end), step, body);
}

/// The LLVM intrinsic `name` on builtin-vector operands.
inline mlir::Value callIntrinsic(mlir::OpBuilder &builder, mlir::Location loc,
                                 mlir::Type result, llvm::StringRef name,
                                 mlir::ValueRange operands) {
  return mlir::LLVM::CallIntrinsicOp::create(
             builder, loc, result, builder.getStringAttr(name), operands)
      .getResult(0);
}

} // namespace r2q::lowering

#endif // R2Q_LIB_CONVERSION_R2QTOLINALG_VECTORBUILDERS_H
