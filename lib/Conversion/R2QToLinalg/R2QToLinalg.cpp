//===- R2QToLinalg.cpp - Lowering r2q to linalg ---------------------------===//
//
// The pass and its registration; the patterns live in MatmulToLinalg.cpp
// (r2q.matmul) and QuantizationToLinalg.cpp (r2q.dequantize, r2q.residual).
// Loop names used there: n output feature, g group, b byte within a group,
// j bit within a byte (k = g * G + 8 * b + j), e element within a group.
//
//===----------------------------------------------------------------------===//

#include "r2q/Conversion/R2QToLinalg/R2QToLinalg.h"
#include "r2q/Conversion/Passes.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "llvm/Support/MathExtras.h"

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
    if (lutTarget != "avx512" && lutTarget != "avx2") {
      emitError(getOperation()->getLoc())
          << "convert-r2q-to-linalg: lut-target must be avx512 or avx2, not "
          << lutTarget.getValue();
      return signalPassFailure();
    }
    if (lutPrecision != "exact" && lutPrecision != "fast") {
      emitError(getOperation()->getLoc())
          << "convert-r2q-to-linalg: lut-precision must be exact or fast, not "
          << lutPrecision.getValue();
      return signalPassFailure();
    }
    if (vectorWidth < 8 || !llvm::isPowerOf2_64(vectorWidth)) {
      emitError(getOperation()->getLoc())
          << "convert-r2q-to-linalg: vector-width must be a power of two of "
             "at least 8, not "
          << vectorWidth.getValue();
      return signalPassFailure();
    }
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

    ConversionTarget target(getContext());
    configureR2QToLinalgTarget(target);
    RewritePatternSet patterns(&getContext());
    MatmulLoweringOptions options{
        vectorGemv, vectorWidth, lutGemv,
        lutTarget == "avx2" ? LutTarget::AVX2 : LutTarget::AVX512,
        lutPrecision == "fast" ? LutPrecision::Fast : LutPrecision::Exact};
    populateR2QToLinalgConversionPatterns(patterns, options);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void populateR2QToLinalgConversionPatterns(
    RewritePatternSet &patterns, const MatmulLoweringOptions &options) {
  populateMatmulToLinalgPatterns(patterns, options);
  if (options.lutGemv)
    populateLutGemvPatterns(patterns, options.lutTarget, options.lutPrecision);
  populateQuantizationToLinalgPatterns(patterns);
  populateDecomposeQuantizePatterns(patterns);
}

void configureR2QToLinalgTarget(ConversionTarget &target) {
  target.addIllegalDialect<R2QDialect>();
  target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                         LLVM::LLVMDialect, math::MathDialect, scf::SCFDialect,
                         tensor::TensorDialect, vector::VectorDialect>();
}

} // namespace r2q
