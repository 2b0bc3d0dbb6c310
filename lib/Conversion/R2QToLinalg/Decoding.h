//===- Decoding.h - Decoding sign planes in linalg --------------*- C++ -*-===//

#ifndef R2Q_LIB_CONVERSION_R2QTOLINALG_DECODING_H
#define R2Q_LIB_CONVERSION_R2QTOLINALG_DECODING_H

#include "mlir/IR/Builders.h"

namespace r2q::lowering {

/// Rows of a quantized weight, plane by plane: `signs[p]` is rows x K/8
/// bytes, `scales[p]` rows x K/G scales.
struct PlaneRows {
  llvm::SmallVector<mlir::Value> signs;
  llvm::SmallVector<mlir::Value> scales;
  int64_t groupSize = 0;
  /// Columns of the weight (K).
  int64_t columns = 0;

  int64_t planes() const { return signs.size(); }
  int64_t groups() const { return columns / groupSize; }
  int64_t bytesPerGroup() const { return groupSize / 8; }
};

/// Rows [offset, offset + count) of the weight held by `signs` (P x N x K/8)
/// and `scales` (P x N x K/G).
PlaneRows slicePlaneRows(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::Value signs, mlir::Value scales,
                         int64_t groupSize, mlir::OpFoldResult offset,
                         mlir::OpFoldResult count);

/// All rows of the weight.
PlaneRows allPlaneRows(mlir::OpBuilder &builder, mlir::Location loc,
                       mlir::Value signs, mlir::Value scales,
                       int64_t groupSize);

/// Each plane's signs split per group: rows x K/G x G/8, for loops that
/// address (row, group, byte).
llvm::SmallVector<mlir::Value> signsByGroup(mlir::OpBuilder &builder,
                                            mlir::Location loc,
                                            const PlaneRows &planes);

/// In a loop body: sum_p (bit `bit` of bytes[p] ? -scales[p] : scales[p]),
/// in f32, added to +0.0 in plane order like the numerics core.
mlir::Value decodeWeight(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::ValueRange bytes, mlir::ValueRange scales,
                         mlir::Value bit);

/// The rows x K weight of `elementType`, decoded over loops (n, g, b, j):
/// each sign byte is read once and its bits decoded by the innermost loop.
mlir::Value decodeToFloat(mlir::OpBuilder &builder, mlir::Location loc,
                          const PlaneRows &planes, mlir::Type elementType);

} // namespace r2q::lowering

#endif // R2Q_LIB_CONVERSION_R2QTOLINALG_DECODING_H
