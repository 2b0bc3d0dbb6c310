//===- Matvec.h - r2q.matmul of few rows with vector ops --------*- C++ -*-===//

#ifndef R2Q_LIB_CONVERSION_R2QTOLINALG_MATVEC_H
#define R2Q_LIB_CONVERSION_R2QTOLINALG_MATVEC_H

#include "mlir/IR/Builders.h"

namespace r2q::lowering {

/// y[..., n] = sum_k x[..., k] * w_hat[n][k] computed from the packed sign
/// planes with vector ops, written into `accumulator` (f32, x's leading
/// dimensions then N), `vectorWidth` f32 lanes at a time (fewer when the
/// group size needs it). Meant for few rows: each row reads the whole
/// weight.
mlir::Value vectorMatvec(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::Value x, mlir::Value signs, mlir::Value scales,
                         int64_t groupSize, int64_t vectorWidth,
                         mlir::Value accumulator);

} // namespace r2q::lowering

#endif // R2Q_LIB_CONVERSION_R2QTOLINALG_MATVEC_H
