//===- MatmulStrategy.h - One lowering pattern per kernel strategy -*- C++ -*-//
//
// convert-r2q-to-linalg lowers each r2q.matmul by the strategy its #r2q.kernel
// attribute names (KernelAttr::getPortableDefault without one). A strategy is
// one enum case (R2QAttrs.td) and one pattern derived from
// MatmulStrategyPattern in a file of its own, which computes the dense
// product; the shared steps around it (the f32 accumulator, the sparse
// outlier product, the result type) live here, and so do the splits across
// threads that every strategy uses: of the output features, and of the
// per-call data built along the input columns.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_LIB_CONVERSION_R2QTOLINALG_MATMULSTRATEGY_H
#define R2Q_LIB_CONVERSION_R2QTOLINALG_MATMULSTRATEGY_H

#include "r2q/Dialect/R2Q/IR/R2Q.h"

#include "mlir/Transforms/DialectConversion.h"

#include <functional>

namespace r2q::lowering {

/// The operands of an r2q.matmul being lowered and its kernel.
struct MatmulOperands {
  mlir::Value x;      // ..., K (any float type)
  mlir::Value signs;  // P x N x ceil(K/8) i8 (or kernel.getLayout()'s)
  mlir::Value scales; // P x N x ceil(K/G)
  int64_t groupSize;
  KernelAttr kernel;

  int64_t columns() const {
    return mlir::cast<mlir::RankedTensorType>(x.getType()).getShape().back();
  }
};

/// The kernel `op` is lowered with: its attribute, or the portable default.
KernelAttr kernelOf(MatmulOp op);

/// Lowers the r2q.matmul ops whose kernel runs `strategy` (for every row
/// count: a choice by rows is split first); derived classes compute the
/// dense product.
class MatmulStrategyPattern : public mlir::OpConversionPattern<MatmulOp> {
public:
  MatmulStrategyPattern(mlir::MLIRContext *context, KernelStrategy strategy)
      : OpConversionPattern(context), strategy(strategy) {}

  mlir::LogicalResult
  matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                  mlir::ConversionPatternRewriter &rewriter) const final;

protected:
  /// y[..., n] += sum_k x[..., k] * w_hat[n][k] into `accumulator` (f32,
  /// x's leading dimensions then N, zero-filled).
  virtual mlir::Value denseProduct(mlir::OpBuilder &builder, mlir::Location loc,
                                   const MatmulOperands &operands,
                                   mlir::Value accumulator) const = 0;

private:
  KernelStrategy strategy;
};

/// One part of the output features [first, first + count) given to a thread:
/// `output` is that part of the accumulator, `scratch` that part's slice of
/// each scratch buffer.
struct FeaturePart {
  mlir::Value first;
  mlir::Value count;
  mlir::Value output;
  llvm::SmallVector<mlir::Value> scratch;
};

/// Returns the part's updated output, then its updated scratch slices.
using FeaturePartBody = std::function<llvm::SmallVector<mlir::Value>(
    mlir::OpBuilder &, mlir::Location, const FeaturePart &)>;

/// Splits the `features` output features (the last dimension of
/// `accumulator`) into kernel.getThreads() contiguous parts of whole
/// `unitRows`-feature units and runs `body` on each: in an scf.forall when
/// there are several parts, directly otherwise. Each `scratch` tensor has a
/// leading dimension of one entry per part; a part sees its own entry
/// (rank-reduced), so nothing is allocated inside the parallel loop.
/// Returns the updated accumulator.
mlir::Value splitFeatures(mlir::OpBuilder &builder, mlir::Location loc,
                          KernelAttr kernel, mlir::Value features,
                          int64_t unitRows, mlir::Value accumulator,
                          mlir::ValueRange scratch,
                          const FeaturePartBody &body);

/// Returns a part's filled slices, one per tensor.
using ColumnPartBody = std::function<llvm::SmallVector<mlir::Value>(
    mlir::OpBuilder &, mlir::Location, mlir::Value first, mlir::Value count,
    mlir::ValueRange slices)>;

/// Fills `tensors`, whose dimensions `dim` hold `units` units of
/// unitSizes[i] entries each (a strategy's per-call data along the input
/// columns, such as int8_gemm's rounded activations), in kernel.getThreads()
/// contiguous parts of whole units, in an scf.forall when there are several
/// parts: `body` gets the part's units [first, first + count) and the
/// part's slice of each tensor (dimension `dim` cut to those units), and
/// returns them filled. Returns the filled tensors.
llvm::SmallVector<mlir::Value>
splitColumns(mlir::OpBuilder &builder, mlir::Location loc, KernelAttr kernel,
             int64_t units, int64_t dim, mlir::ValueRange tensors,
             llvm::ArrayRef<int64_t> unitSizes, const ColumnPartBody &body);

/// The output features of the largest part splitFeatures makes of
/// `features` for `parts` parts of `unitRows`-feature units (for scratch
/// buffers sized per part).
mlir::Value largestPartFeatures(mlir::OpBuilder &builder, mlir::Location loc,
                                int64_t parts, mlir::Value features,
                                int64_t unitRows);

/// The static sizes of an op that a GPU kernel is specialized on.
struct KernelDims {
  int64_t rows, features, columns, planes, groupSize;
  int64_t bytesPerRow; // ceil(K / 8)
  mlir::Type inputElement;

  /// The sizes of `operands` (static signs) for `rows` activation rows.
  static KernelDims of(const MatmulOperands &operands, int64_t rows);
};

/// The buffers a GPU kernel (warp_gemv, warp_lut_gemv, mma_gemm,
/// byte_lut_gemv) reads and writes, for the M activation rows of an op being
/// lowered.
struct KernelBuffers {
  mlir::Value x;                   // M x K, the input's element type
  mlir::Value signs;               // P x N x ceil(K/8) i8
  mlir::Value scales;              // P x N x ceil(K/G)
  mlir::Value accumulator;         // M x N f32, read
  mlir::Value result;              // M x N f32, written: a new buffer
  mlir::RankedTensorType rowsType; // M x N f32

  /// Read-only buffers of the operands and `accumulator` as row matrices,
  /// and a new result buffer.
  static KernelBuffers create(mlir::OpBuilder &builder, mlir::Location loc,
                              const MatmulOperands &operands,
                              mlir::Value accumulator);
  int64_t rows() const { return rowsType.getDimSize(0); }
  /// The result buffer, once written, as a tensor shaped as `accumulator`.
  mlir::Value resultTensor(mlir::OpBuilder &builder, mlir::Location loc,
                           mlir::Value accumulator) const;
};

/// The strategy patterns, one file each.
void populateFusedDecodePatterns(mlir::RewritePatternSet &patterns);
void populateTiledDecodePatterns(mlir::RewritePatternSet &patterns);
void populateVectorGemvPatterns(mlir::RewritePatternSet &patterns);
void populateLutGemvPatterns(mlir::RewritePatternSet &patterns);
void populateInt8GemmPatterns(mlir::RewritePatternSet &patterns);
/// `gpuLaunch`: the kernel as a gpu.launch, else its loop nest on the host.
void populateWarpGemvPatterns(mlir::RewritePatternSet &patterns,
                              bool gpuLaunch);
void populateMmaGemmPatterns(mlir::RewritePatternSet &patterns, bool gpuLaunch);
void populateByteLutGemvPatterns(mlir::RewritePatternSet &patterns,
                                 bool gpuLaunch);

} // namespace r2q::lowering

#endif // R2Q_LIB_CONVERSION_R2QTOLINALG_MATMULSTRATEGY_H
