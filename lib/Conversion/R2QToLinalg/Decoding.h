//===- Decoding.h - Decoding sign planes in linalg --------------*- C++ -*-===//
//
// A weight's K columns are decoded in at most two column spans: the whole
// groups, and a shorter last group when the group size G does not divide K.
// Each span is a regular grid of groups x bytes x 8 bits, so the loops over
// it read each sign byte once; a last group whose length is not a multiple
// of 8 is decoded up to its last byte, and the padding columns are then
// multiplied by zero activations or sliced away.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_LIB_CONVERSION_R2QTOLINALG_DECODING_H
#define R2Q_LIB_CONVERSION_R2QTOLINALG_DECODING_H

#include "mlir/IR/Builders.h"

namespace r2q::lowering {

/// `groups` groups of `length` columns each, from group `firstGroup` on.
struct ColumnSpan {
  int64_t firstGroup;
  int64_t groups;
  int64_t length;
};

/// The whole groups of a row of `k` columns, then a shorter last group of
/// k mod groupSize columns if the group size does not divide `k`.
llvm::SmallVector<ColumnSpan> columnSpans(int64_t k, int64_t groupSize);

/// Columns [firstColumn, firstColumn + columns) of rows of a quantized
/// weight, plane by plane: `signs[p]` is rows x (groups * groupSize / 8)
/// bytes, `scales[p]` rows x groups scales.
struct PlaneRows {
  llvm::SmallVector<mlir::Value> signs;
  llvm::SmallVector<mlir::Value> scales;
  /// Columns per group as decoded: the scheme's group size, or a shorter last
  /// group's length rounded up to a whole byte.
  int64_t groupSize = 0;
  int64_t groups = 0;
  int64_t firstColumn = 0;
  /// Columns of the weight in the span (the last byte's padding excluded).
  int64_t columns = 0;

  int64_t planes() const { return signs.size(); }
  int64_t bytesPerGroup() const { return groupSize / 8; }
  /// Columns decoded: `columns` plus the padding bits of the last byte.
  int64_t decodedColumns() const { return groups * groupSize; }
};

/// The column spans of rows [offset, offset + count) of the N x `k` weight
/// held by `signs` (P x N x ceil(K/8)) and `scales` (P x N x ceil(K/G)): the
/// whole groups, then a shorter last group if G does not divide K.
llvm::SmallVector<PlaneRows>
slicePlaneRows(mlir::OpBuilder &builder, mlir::Location loc, mlir::Value signs,
               mlir::Value scales, int64_t groupSize, int64_t k,
               mlir::OpFoldResult offset, mlir::OpFoldResult count);

/// The column spans of all rows of the weight.
llvm::SmallVector<PlaneRows> allPlaneRows(mlir::OpBuilder &builder,
                                          mlir::Location loc, mlir::Value signs,
                                          mlir::Value scales, int64_t groupSize,
                                          int64_t k);

/// Each plane's signs split per group: rows x groups x groupSize/8, for
/// loops that address (row, group, byte).
llvm::SmallVector<mlir::Value> signsByGroup(mlir::OpBuilder &builder,
                                            mlir::Location loc,
                                            const PlaneRows &planes);

/// In a loop body: sum_p (bit `bit` of bytes[p] ? -scales[p] : scales[p]),
/// in f32, added to +0.0 in plane order like the numerics core.
mlir::Value decodeWeight(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::ValueRange bytes, mlir::ValueRange scales,
                         mlir::Value bit);

/// The weights of one span decoded into `init` (rows x groups x
/// bytesPerGroup() x 8 of a float type), over loops (n, g, b, j): each sign
/// byte is read once and its bits decoded by the innermost loop. Padding
/// columns decode as if their bits were weights.
mlir::Value decodeInto(mlir::OpBuilder &builder, mlir::Location loc,
                       const PlaneRows &span, mlir::Value init);

/// The rows x decodedColumns() weights of one span as `elementType`, decoded
/// over loops (n, g, b, j): each sign byte is read once and its bits decoded
/// by the innermost loop. Padding columns decode as if their bits were
/// weights.
mlir::Value decodeToFloat(mlir::OpBuilder &builder, mlir::Location loc,
                          const PlaneRows &span, mlir::Type elementType);

/// The rows x K weight of `elementType`: every span decoded, its padding
/// columns dropped, the spans side by side.
mlir::Value decodeToFloat(mlir::OpBuilder &builder, mlir::Location loc,
                          llvm::ArrayRef<PlaneRows> spans,
                          mlir::Type elementType);

/// The activations a span multiplies: columns [firstColumn, firstColumn +
/// columns) of `x` (K innermost), zero-padded to decodedColumns() so that
/// the padding bits of the span's last byte multiply zeros.
mlir::Value spanActivations(mlir::OpBuilder &builder, mlir::Location loc,
                            mlir::Value x, const PlaneRows &span);

} // namespace r2q::lowering

#endif // R2Q_LIB_CONVERSION_R2QTOLINALG_DECODING_H
