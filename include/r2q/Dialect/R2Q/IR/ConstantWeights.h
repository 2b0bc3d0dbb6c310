//===- ConstantWeights.h - MLIR constants <-> the numerics core -*- C++ -*-===//
//
// Reads weights out of `dense` and `dense_resource` elements attributes and
// turns the numerics core's packed results back into attributes. Shared by the
// op folders and the passes that quantize constant weights.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_DIALECT_R2Q_IR_CONSTANTWEIGHTS_H
#define R2Q_DIALECT_R2Q_IR_CONSTANTWEIGHTS_H

#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Quant/PackedWeight.h"
#include "r2q/Quant/R2Q.h"

#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/Diagnostics.h"

#include <optional>
#include <string>
#include <vector>

namespace r2q {

/// The numerics core's format of an f32, f16 or bf16 MLIR type.
std::optional<quant::FloatType> toQuantFloatType(mlir::Type type);

/// The MLIR type of a numerics-core float format.
mlir::FloatType toMlirFloatType(mlir::MLIRContext *context,
                                quant::FloatType type);

/// The numerics core's view of a scheme attribute.
quant::Scheme toQuantScheme(SchemeAttr scheme);

/// A view of a constant N x K weight (dense, splat or dense_resource, of f32,
/// f16 or bf16). Resource and dense data are viewed in place; a splat is
/// expanded into `splatStorage`. Fails with a message for the user when the
/// data is not available (an elided resource) or not a float matrix.
quant::Status viewConstantWeight(mlir::ElementsAttr weight,
                                 std::vector<float> &splatStorage,
                                 quant::MatrixView &view);

/// Quantizes a constant N x K weight (dense, splat or dense_resource, of f32,
/// f16 or bf16). Fails with a message for the user when the data is not
/// available (an elided resource) or the core rejects it (NaN, Inf, overflow).
quant::Status quantizeConstant(mlir::ElementsAttr weight,
                               const quant::Scheme &scheme,
                               quant::PackedWeight &result);

/// Reads constant sign planes and scales (dense, splat or dense_resource)
/// back into a packed weight of K columns.
quant::Status readPackedConstant(mlir::ElementsAttr signs,
                                 mlir::ElementsAttr scales, int64_t groupSize,
                                 int64_t cols, quant::PackedWeight &result);

/// Why the data of `attr` cannot be read as its type says, or nullopt when it
/// can: a `dense_resource` whose blob is missing (no entry in the
/// `dialect_resources` section, or elided) or holds more or fewer bytes than
/// its type needs ("dense_resource 'w' holds 60 bytes, but tensor<4x4xf32>
/// needs 64 (truncated blob)"). Other attributes, and resources of types
/// whose size is not known (dynamic shapes, index elements), always pass.
std::optional<std::string> describeBadResourceBlob(mlir::ElementsAttr attr);

/// Reports describeBadResourceBlob's message through `emitError` and fails
/// when `attr` is a dense_resource that cannot be read as its type says. For
/// passes that read constant data (r2q-verify-resource-blobs, constant
/// folding in r2q-quantize-linear) to call before they read.
mlir::LogicalResult
verifyResourceBlob(mlir::ElementsAttr attr,
                   llvm::function_ref<mlir::InFlightDiagnostic()> emitError);

/// The little-endian bytes of a dense or dense_resource attribute, or nullopt
/// when they are not stored contiguously (a splat) or not readable as the
/// attribute's type says (see describeBadResourceBlob): never fewer or more
/// bytes than the type needs.
std::optional<llvm::ArrayRef<char>> getContiguousData(mlir::ElementsAttr attr);

/// An elements attribute of `type` holding `bytes`. Small data becomes a
/// `dense` attribute (readable in tests); anything larger than
/// kInlineConstantBytes becomes a `dense_resource` blob named after
/// `blobName`, which is neither hashed nor uniqued by content.
mlir::ElementsAttr makeConstantData(mlir::ShapedType type,
                                    llvm::ArrayRef<char> bytes,
                                    llvm::StringRef blobName);

inline constexpr size_t kInlineConstantBytes = 1024;

/// The sign planes and scales of `weight` as elements attributes of the given
/// types (see makeConstantData), resources named `<blobPrefix>_signs` and
/// `<blobPrefix>_scales`.
std::pair<mlir::ElementsAttr, mlir::ElementsAttr>
makePackedWeightData(const quant::PackedWeight &weight,
                     mlir::ShapedType signsType, mlir::ShapedType scalesType,
                     llvm::StringRef blobPrefix);

/// The CSR outliers of a dense + sparse weight as the elements attributes of
/// r2q.matmul's outlier operands (docs/format.md, "Outliers").
struct OutlierData {
  mlir::ElementsAttr offsets; // (N + 1) x i32
  mlir::ElementsAttr columns; // nnz x i16 (K <= 32768) or i32
  mlir::ElementsAttr values;  // nnz x f16 or f32
};

/// `outliers` (not empty) of an N x `cols` weight as elements attributes
/// (see makeConstantData), resources named `<blobPrefix>_outlier_offsets`,
/// `_outlier_columns` and `_outlier_values`.
OutlierData makeOutlierData(mlir::MLIRContext *context,
                            const quant::SparseOutliers &outliers, int64_t cols,
                            llvm::StringRef blobPrefix);

} // namespace r2q

#endif // R2Q_DIALECT_R2Q_IR_CONSTANTWEIGHTS_H
