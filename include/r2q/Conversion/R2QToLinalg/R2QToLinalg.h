//===- R2QToLinalg.h - Lowering r2q to linalg -------------------*- C++ -*-===//

#ifndef R2Q_CONVERSION_R2QTOLINALG_R2QTOLINALG_H
#define R2Q_CONVERSION_R2QTOLINALG_R2QTOLINALG_H

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace r2q {

/// How r2q.matmul is lowered.
struct MatmulLoweringOptions {
  /// Few rows: a vector GEMV on the sign bits instead of the fused decode
  /// linalg.generic.
  bool vectorGemv = false;
  /// f32 lanes per vector step of the GEMV (a power of two, at least 8).
  int64_t vectorWidth = 32;
};

/// Patterns lowering r2q.matmul, r2q.dequantize and r2q.residual to
/// linalg.generic on tensors, and greedy r2q.quantize to r2q.residual stages.
void populateR2QToLinalgConversionPatterns(
    mlir::RewritePatternSet &patterns,
    const MatmulLoweringOptions &options = {});

/// r2q.matmul only (fused decode or vector GEMV for few rows, tiled decode
/// otherwise).
void populateMatmulToLinalgPatterns(mlir::RewritePatternSet &patterns,
                                    const MatmulLoweringOptions &options = {});

/// r2q.dequantize and r2q.residual only.
void populateQuantizationToLinalgPatterns(mlir::RewritePatternSet &patterns);

/// Marks the r2q dialect illegal and what the patterns produce legal.
void configureR2QToLinalgTarget(mlir::ConversionTarget &target);

} // namespace r2q

#endif // R2Q_CONVERSION_R2QTOLINALG_R2QTOLINALG_H
