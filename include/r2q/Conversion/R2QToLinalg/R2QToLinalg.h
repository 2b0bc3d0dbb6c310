//===- R2QToLinalg.h - Lowering r2q to linalg -------------------*- C++ -*-===//

#ifndef R2Q_CONVERSION_R2QTOLINALG_R2QTOLINALG_H
#define R2Q_CONVERSION_R2QTOLINALG_R2QTOLINALG_H

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace r2q {

/// Patterns lowering r2q.matmul, r2q.dequantize and r2q.residual to
/// linalg.generic on tensors, and greedy r2q.quantize to r2q.residual stages.
/// Each r2q.matmul is lowered by the strategy of its #r2q.kernel attribute
/// (KernelAttr::getPortableDefault() without one); `gpuLaunch`: the GPU
/// kernels (warp_gemv, warp_lut_gemv, mma_gemm) become gpu.launch ops
/// rather than host loop nests.
void populateR2QToLinalgConversionPatterns(mlir::RewritePatternSet &patterns,
                                           bool gpuLaunch = false);

/// r2q.matmul only: one pattern per kernel strategy, and the choice by rows.
void populateMatmulToLinalgPatterns(mlir::RewritePatternSet &patterns,
                                    bool gpuLaunch = false);

/// Memory effects for llvm.call_intrinsic (none for the register permutes
/// the lut_gemv strategy calls), so that its IR bufferizes.
void registerLutGemvInterfaces(mlir::DialectRegistry &registry);

/// Memory effects for gpu.barrier (none in MLIR 22), which the
/// warp_lut_gemv and mma_gemm GPU kernels use, so that their IR bufferizes.
void registerWarpGemvInterfaces(mlir::DialectRegistry &registry);

/// r2q.dequantize and r2q.residual only.
void populateQuantizationToLinalgPatterns(mlir::RewritePatternSet &patterns);

/// Marks the r2q dialect illegal and what the patterns produce legal.
void configureR2QToLinalgTarget(mlir::ConversionTarget &target);

} // namespace r2q

#endif // R2Q_CONVERSION_R2QTOLINALG_R2QTOLINALG_H
