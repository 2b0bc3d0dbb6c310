//===- R2QToLinalg.cpp - Lowering r2q to linalg ---------------------------===//
//
// The pass and its registration; the patterns live in MatmulToLinalg.cpp
// (r2q.matmul: one file per kernel strategy, see MatmulStrategy.h) and
// QuantizationToLinalg.cpp (r2q.dequantize, r2q.residual).
// Loop names used there: n output feature, g group, b byte within a group,
// j bit within a byte (k = g * G + 8 * b + j), e element within a group.
//
//===----------------------------------------------------------------------===//

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"
#include "r2q/Conversion/Passes.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace r2q {
#define GEN_PASS_DEF_CONVERTR2QTOLINALGPASS
#include "r2q/Conversion/Passes.h.inc"
} // namespace r2q

using namespace mlir;

namespace r2q {
namespace {

class ConvertR2QToLinalgPass
    : public impl::ConvertR2QToLinalgPassBase<ConvertR2QToLinalgPass> {
public:
  using Base::Base;

  void runOnOperation() override {
    // Refined quantization exists only in the numerics core: a runtime weight
    // asking for it cannot be lowered.
    WalkResult unsupported = getOperation()->walk([](QuantizeOp op) {
      if (op.getScheme().getMethod() == Method::Greedy)
        return WalkResult::advance();
      op.emitOpError("with method = refined cannot run on a weight only "
                     "known at run time; make the weight a constant so that "
                     "it folds, or use method = greedy");
      return WalkResult::interrupt();
    });
    if (unsupported.wasInterrupted())
      return signalPassFailure();
    // The sparse product reads x[..., columns[j]] for the offsets' ranges:
    // constant outliers must stay in bounds.
    WalkResult badOutliers = getOperation()->walk([](MatmulOp op) {
      return failed(op.verifyConstantOutliers()) ? WalkResult::interrupt()
                                                 : WalkResult::advance();
    });
    if (badOutliers.wasInterrupted())
      return signalPassFailure();
    // byte_lut_gemv reads nothing but the row-interleaved layout; the
    // selection passes choose it for weights r2q-pack-weights packs.
    WalkResult unpacked = getOperation()->walk([](MatmulOp op) {
      KernelAttr kernel = op.getKernelAttr();
      if (!kernel || kernel.getStrategy() != KernelStrategy::ByteLutGemv ||
          kernel.getLayout() == KernelLayout::RowInterleaved)
        return WalkResult::advance();
      op.emitOpError("kernel strategy byte_lut_gemv reads weights in the "
                     "row_interleaved layout: run r2q-pack-weights (constant "
                     "weights) or pass packed weights with layout = "
                     "row_interleaved");
      return WalkResult::interrupt();
    });
    if (unpacked.wasInterrupted())
      return signalPassFailure();

    ConversionTarget target(getContext());
    configureR2QToLinalgTarget(target);
    RewritePatternSet patterns(&getContext());
    populateR2QToLinalgConversionPatterns(patterns, gpuLaunch);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void populateR2QToLinalgConversionPatterns(RewritePatternSet &patterns,
                                           bool gpuLaunch) {
  populateMatmulToLinalgPatterns(patterns, gpuLaunch);
  populateQuantizationToLinalgPatterns(patterns);
  populateDecomposeQuantizePatterns(patterns);
}

void configureR2QToLinalgTarget(ConversionTarget &target) {
  target.addIllegalDialect<R2QDialect>();
  target.addLegalDialect<
      arith::ArithDialect, bufferization::BufferizationDialect, gpu::GPUDialect,
      linalg::LinalgDialect, math::MathDialect, memref::MemRefDialect,
      scf::SCFDialect, tensor::TensorDialect, vector::VectorDialect>();
  // lut_gemv's table permutes (x86 intrinsics without a vector-dialect op).
  target.addLegalOp<LLVM::CallIntrinsicOp>();
  // mma_gemm on the GPU: byte permutes (PTX prmt), tensor-core fragments.
  target.addLegalOp<NVVM::PermuteOp, nvgpu::LdMatrixOp, nvgpu::MmaSyncOp>();
  // wgmma_gemm: warpgroup products (inline PTX) on accumulator structs.
  target.addLegalOp<LLVM::InlineAsmOp, LLVM::ZeroOp, LLVM::ExtractValueOp>();
}

} // namespace r2q
