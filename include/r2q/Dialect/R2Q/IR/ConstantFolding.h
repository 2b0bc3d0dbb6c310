//===- ConstantFolding.h - Evaluating r2q ops on constants ------*- C++ -*-===//
//
// Evaluates r2q.quantize, r2q.residual and r2q.dequantize on constant operands
// through the numerics core. One implementation serves both callers: the ops'
// fold hooks, which evaluate only small weights so that any --canonicalize
// stays cheap, and r2q-fold-constant-weights, the explicit pass that folds
// weights of any size (docs/rationale.md, "Where constants are quantized").
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_DIALECT_R2Q_IR_CONSTANTFOLDING_H
#define R2Q_DIALECT_R2Q_IR_CONSTANTFOLDING_H

#include "r2q/Quant/R2Q.h"

#include "mlir/IR/Operation.h"

#include <cstdint>
#include <optional>

namespace r2q {

/// The most weights (N x K) a fold hook quantizes, dequantizes or takes a
/// residual of: microseconds of work even with the refined method, so
/// canonicalizing small IR (tests, toy layers) still folds. Real layers
/// (4096 x 4096 = 16 M weights, seconds with the refined method; a 7B model
/// holds 6.5 G) wait for r2q-fold-constant-weights.
inline constexpr int64_t kMaxFoldHookWeights = 4096;

/// Whether `op` is an r2q op that constant evaluation applies to:
/// r2q.quantize, r2q.residual or r2q.dequantize.
bool isConstantFoldable(mlir::Operation *op);

/// The number of weights (N x K) `op` (see isConstantFoldable) works on, or
/// nullopt when its weight's shape is dynamic.
std::optional<int64_t> countFoldedWeights(mlir::Operation *op);

/// Evaluates `op` (see isConstantFoldable) on `operands`, one attribute per
/// operand in order (null where an operand is not constant), into one
/// attribute per result: packed sign planes and scales computed by the
/// numerics core, the next residual, or the reconstructed weight. Large
/// results become dense_resource blobs (makeConstantData). Fails with a
/// message for the user when an operand is not constant or not readable (an
/// elided or truncated resource) or when the core rejects the weight (NaN,
/// Inf, a scale that overflows its type).
quant::Status
evaluateOnConstants(mlir::Operation *op,
                    llvm::ArrayRef<mlir::Attribute> operands,
                    llvm::SmallVectorImpl<mlir::Attribute> &results);

/// What the fold hooks call: evaluateOnConstants when `op` works on at most
/// kMaxFoldHookWeights weights, silently nothing otherwise or when it fails
/// (folding is speculative and must not emit diagnostics).
mlir::LogicalResult
foldSmallConstants(mlir::Operation *op,
                   llvm::ArrayRef<mlir::Attribute> operands,
                   llvm::SmallVectorImpl<mlir::OpFoldResult> &results);

} // namespace r2q

#endif // R2Q_DIALECT_R2Q_IR_CONSTANTFOLDING_H
