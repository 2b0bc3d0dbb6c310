//===- Verification.h - Shape rules of quantized weights --------*- C++ -*-===//
//
// The rules every r2q op and pass applies to group sizes, plane counts and
// the shapes of sign planes and scales, with the messages users see.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_DIALECT_R2Q_IR_VERIFICATION_H
#define R2Q_DIALECT_R2Q_IR_VERIFICATION_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"

#include <string>

namespace r2q {

using EmitErrorFn = llvm::function_ref<mlir::InFlightDiagnostic()>;

/// Group sizes are positive multiples of 8, so groups start on byte
/// boundaries of the packed sign planes.
mlir::LogicalResult verifyGroupSize(EmitErrorFn emitError, int64_t groupSize);

/// 1 to 4 sign planes.
mlir::LogicalResult verifyPlaneCount(EmitErrorFn emitError, int64_t planes);

/// The outlier options of the passes: a fraction of the weights between 0
/// and 1, and a non-negative threshold in RMS of the group.
mlir::LogicalResult verifyOutlierOptions(EmitErrorFn emitError, double fraction,
                                         double threshold);

/// f32, f16 or bf16: the float types of r2q weights, scales and activations.
bool isSupportedFloatType(mlir::Type type);

/// The shape rules of an N x K weight: a valid group size, K static and
/// positive, N positive when static. The group size need not divide K: the
/// last group of a row is then shorter.
mlir::LogicalResult verifyWeightShape(EmitErrorFn emitError, int64_t groupSize,
                                      int64_t n, int64_t k);

/// Checks sign planes (P x N x ceil(K/8) x i8) and scales
/// (P x N x ceil(K/G)) against an N x K weight (verifyWeightShape); dynamic N
/// is allowed, P and K must be static.
mlir::LogicalResult verifyPackedWeight(EmitErrorFn emitError,
                                       mlir::RankedTensorType signs,
                                       mlir::RankedTensorType scales,
                                       int64_t groupSize, int64_t n, int64_t k);

/// Checks a weight in lut_gemv's row-interleaved layout (docs/format.md):
/// the planes and the scale type as verifyPackedWeight does, signs exactly
/// P x ceil(N/16) x (ceil(K/512) * 1024) x i8 and scales P x ceil(N/16) x
/// (16 * ceil(K/G)), so N must be static.
mlir::LogicalResult verifyRowInterleavedWeight(EmitErrorFn emitError,
                                               mlir::RankedTensorType signs,
                                               mlir::RankedTensorType scales,
                                               int64_t groupSize, int64_t n,
                                               int64_t k);

/// Checks the sparse part of a dense + sparse weight against an N x K weight
/// (docs/format.md, "Outliers"): N + 1 i32 row offsets, as many columns
/// (i16 only when K <= 32768, i32 otherwise) as values (f16 or f32).
/// Dynamic N or number of outliers are allowed.
mlir::LogicalResult verifyOutliers(EmitErrorFn emitError,
                                   mlir::RankedTensorType offsets,
                                   mlir::RankedTensorType columns,
                                   mlir::RankedTensorType values, int64_t n,
                                   int64_t k);

/// Why an N x K weight cannot be quantized with `groupSize` (a valid group
/// size), for passes that skip layers with a remark: "K = 0", "N = 0", "K is
/// dynamic", or, unless `raggedGroups` allows a shorter last group, "group
/// size G does not divide K = ...". Empty when it can.
std::string whyNotQuantizable(int64_t n, int64_t k, int64_t groupSize,
                              bool raggedGroups);

} // namespace r2q

#endif // R2Q_DIALECT_R2Q_IR_VERIFICATION_H
