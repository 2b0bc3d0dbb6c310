//===- R2QToLinalg.h - Lowering r2q to linalg -------------------*- C++ -*-===//

#ifndef R2Q_CONVERSION_R2QTOLINALG_R2QTOLINALG_H
#define R2Q_CONVERSION_R2QTOLINALG_R2QTOLINALG_H

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace r2q {

/// The instruction set the table-lookup GEMV is generated for.
enum class LutTarget { AVX512, AVX2 };

/// Exact: f32 tables. Fast: int8 tables of activations rounded per block of
/// 128 columns (docs/rationale.md states the error bound).
enum class LutPrecision { Exact, Fast };

/// The most activation rows the table-lookup GEMV takes.
inline constexpr int64_t kLutMaxRows = 8;

/// How r2q.matmul is lowered.
struct MatmulLoweringOptions {
  /// Few rows: a vector GEMV on the sign bits instead of the fused decode
  /// linalg.generic.
  bool vectorGemv = false;
  /// f32 lanes per vector step of the GEMV (a power of two, at least 8).
  int64_t vectorWidth = 32;
  /// A static batch of 1-8 rows: the table-lookup GEMV (LutGemv.cpp) where
  /// its group sizes allow, before any other strategy.
  bool lutGemv = false;
  LutTarget lutTarget = LutTarget::AVX512;
  LutPrecision lutPrecision = LutPrecision::Exact;
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

/// r2q.matmul of a static batch of 1-8 rows by table lookup, for `target`
/// and in `precision`; takes precedence over the other strategies.
void populateLutGemvPatterns(mlir::RewritePatternSet &patterns,
                             LutTarget target, LutPrecision precision);

/// Memory effects for llvm.call_intrinsic (none for the register permutes
/// the table-lookup GEMV calls), so that its IR bufferizes.
void registerLutGemvInterfaces(mlir::DialectRegistry &registry);

/// r2q.dequantize and r2q.residual only.
void populateQuantizationToLinalgPatterns(mlir::RewritePatternSet &patterns);

/// Marks the r2q dialect illegal and what the patterns produce legal.
void configureR2QToLinalgTarget(mlir::ConversionTarget &target);

} // namespace r2q

#endif // R2Q_CONVERSION_R2QTOLINALG_R2QTOLINALG_H
