//===- SparseProduct.h - The sparse part of dense + sparse R2Q --*- C++ -*-===//

#ifndef R2Q_LIB_CONVERSION_R2QTOLINALG_SPARSEPRODUCT_H
#define R2Q_LIB_CONVERSION_R2QTOLINALG_SPARSEPRODUCT_H

#include "mlir/IR/Builders.h"

namespace r2q::lowering {

/// The CSR outliers of an r2q.matmul (docs/format.md, "Outliers").
struct OutlierOperands {
  mlir::Value offsets; // N + 1 x i32
  mlir::Value columns; // nnz x i16|i32
  mlir::Value values;  // nnz x f16|f32
};

/// y[..., n] += sum_{j in [offsets[n], offsets[n+1])} x[..., columns[j]] *
/// values[j], accumulated in f32 into `accumulator` (f32, x's leading
/// dimensions then N). Every lowering strategy computes the dense part and
/// then this step: one linalg.generic over (..., n) whose body loops over the
/// row's outliers. Each output reads only its row's few entries, so the cost
/// is M * nnz multiply-adds.
mlir::Value addSparseProduct(mlir::OpBuilder &builder, mlir::Location loc,
                             mlir::Value x, const OutlierOperands &outliers,
                             mlir::Value accumulator);

} // namespace r2q::lowering

#endif // R2Q_LIB_CONVERSION_R2QTOLINALG_SPARSEPRODUCT_H
