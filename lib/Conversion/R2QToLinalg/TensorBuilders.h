//===- TensorBuilders.h - Tensor plumbing of the r2q lowering ---*- C++ -*-===//
//
// Small builders shared by the patterns of convert-r2q-to-linalg: slices,
// reshapes, empty and zero tensors, float conversions.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_LIB_CONVERSION_R2QTOLINALG_TENSORBUILDERS_H
#define R2Q_LIB_CONVERSION_R2QTOLINALG_TENSORBUILDERS_H

#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace r2q::lowering {

using mlir::utils::IteratorType;
inline constexpr IteratorType kParallel = IteratorType::parallel;
inline constexpr IteratorType kReduction = IteratorType::reduction;

/// Rows [offset, offset + count) and columns [firstColumn, firstColumn +
/// columns) of plane `plane` of a P x N x X stack, as a count x columns
/// tensor.
mlir::Value extractPlaneRows(mlir::OpBuilder &builder, mlir::Location loc,
                             mlir::Value stack, int64_t plane,
                             mlir::OpFoldResult offset,
                             mlir::OpFoldResult count, int64_t firstColumn,
                             int64_t columns);

/// Columns [first, first + count) of the static last dimension of `value`
/// (all of every other dimension); `value` itself when that is all of it.
mlir::Value sliceColumns(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::Value value, int64_t first, int64_t count);

/// `value` widened to `columns` in its last dimension with zeros; `value`
/// itself when it is that wide already.
mlir::Value padColumns(mlir::OpBuilder &builder, mlir::Location loc,
                       mlir::Value value, int64_t columns);

/// The rows x C matrices `parts` side by side (rows x sum of C); the only
/// part itself when there is one.
mlir::Value concatColumns(mlir::OpBuilder &builder, mlir::Location loc,
                          mlir::ValueRange parts);

/// Splits the last dimension of `value` into `factors` (whose product is
/// that dimension).
mlir::Value splitLastDim(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::Value value, llvm::ArrayRef<int64_t> factors);

/// Merges the dimension groups `groups` of `value`.
mlir::Value mergeDims(mlir::OpBuilder &builder, mlir::Location loc,
                      mlir::Value value,
                      llvm::ArrayRef<mlir::ReassociationIndices> groups);

/// An empty tensor of `shape` (dynamic entries taken from `dynamicSizes` in
/// order) and `elementType`.
mlir::Value emptyTensor(mlir::OpBuilder &builder, mlir::Location loc,
                        llvm::ArrayRef<int64_t> shape, mlir::Type elementType,
                        mlir::ValueRange dynamicSizes = {});

/// `tensor` filled with zeros of its element type.
mlir::Value zeroFilled(mlir::OpBuilder &builder, mlir::Location loc,
                       mlir::Value tensor);

/// Appends the size of dimension `dim` of `value` to `sizes` if it is
/// dynamic.
void appendIfDynamic(mlir::OpBuilder &builder, mlir::Location loc,
                     mlir::Value value, int64_t dim,
                     llvm::SmallVectorImpl<mlir::Value> &sizes);

/// Converts a float scalar to `type` (extf or truncf; nothing if equal).
mlir::Value convertFloat(mlir::OpBuilder &builder, mlir::Location loc,
                         mlir::Value value, mlir::Type type);

/// A float scalar or vector of at most 32 bits as f32: extended, or itself.
mlir::Value toF32(mlir::OpBuilder &builder, mlir::Location loc,
                  mlir::Value value);

/// An i32 constant.
mlir::Value i32Constant(mlir::OpBuilder &builder, mlir::Location loc,
                        int32_t value);

/// PTX's prmt (default mode): byte k of the result is byte (nibble k of
/// `selector`, each below 8) of the 8 bytes high:low. One instruction on
/// the GPU (nvvm.prmt, `gpu`), the same selection in shifts on the host.
mlir::Value bytePermute(mlir::OpBuilder &builder, mlir::Location loc,
                        mlir::Value low, mlir::Value high, mlir::Value selector,
                        bool gpu);

/// The first `bytes` of a GPU block's dynamic shared memory (inside a
/// gpu.launch whose dynamic shared memory size is at least `bytes`), as an
/// i8 memref in the workgroup address space.
mlir::Value dynamicWorkgroupBuffer(mlir::OpBuilder &builder, mlir::Location loc,
                                   int64_t bytes);

/// Asks ptxas for registers that leave room for `blocks` blocks per SM of
/// the kernel outlined from the gpu.launch `launch` (nvvm.minctasm, which
/// r2q-gpu-outline-kernels puts on that kernel).
void askForBlocksPerSM(mlir::OpBuilder &builder, mlir::Operation *launch,
                       int32_t blocks);

/// `value` converted element-wise to `elementType` by a linalg.generic.
mlir::Value convertTensor(mlir::OpBuilder &builder, mlir::Location loc,
                          mlir::Value value, mlir::Type elementType);

/// The number of activation rows of an r2q.matmul input: the product of its
/// leading dimensions (1 for a vector), as a constant when static.
mlir::OpFoldResult activationRows(mlir::OpBuilder &builder, mlir::Location loc,
                                  mlir::Value x);

/// `x` (any rank >= 1, K innermost) as an M x K matrix of its rows.
mlir::Value asRowMatrix(mlir::OpBuilder &builder, mlir::Location loc,
                        mlir::Value x);

/// `x` as an M x K matrix of f32 rows (what the vector kernels read).
mlir::Value asF32RowMatrix(mlir::OpBuilder &builder, mlir::Location loc,
                           mlir::Value x);

/// The inverse of asRowMatrix for a result: `rows` (M x N) reshaped to the
/// leading dimensions of `x` followed by N.
mlir::Value fromRowMatrix(mlir::OpBuilder &builder, mlir::Location loc,
                          mlir::Value rows, mlir::Value x);

/// A read-only buffer of the ranked tensor `tensor` (identity layout), for
/// kernels written on memrefs.
mlir::Value readBuffer(mlir::OpBuilder &builder, mlir::Location loc,
                       mlir::Value tensor);

} // namespace r2q::lowering

#endif // R2Q_LIB_CONVERSION_R2QTOLINALG_TENSORBUILDERS_H
