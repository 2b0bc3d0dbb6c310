//===- LinearLayers.h - Finding linear layers in linalg IR ------*- C++ -*-===//
//
// A linear layer is a float contraction y[..., n] = sum_k x[..., k] * w[n][k]
// whose weight w is a 2-D tensor computed at compile time from constants, or
// a function argument the user marked as a weight, possibly reached through
// ops that only move, broadcast or widen its elements. Anything else, above
// all a contraction of two activations, is not a linear layer: quantizing an
// activation by mistake is silent and plausible, the worst failure r2q can
// have. This is the analysis behind -r2q-quantize-linear, kept apart from the
// rewrite so other passes (tuning, statistics) can ask the same question.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_DIALECT_R2Q_TRANSFORMS_LINEARLAYERS_H
#define R2Q_DIALECT_R2Q_TRANSFORMS_LINEARLAYERS_H

#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/Transforms/ConstantEvaluation.h"
#include "r2q/Quant/R2Q.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

#include <string>
#include <vector>

namespace r2q {

/// The 2-D tensor a contraction's weight operand comes from.
struct WeightSource {
  /// A tensor computed from constants (see ConstantEvaluator), or an argument
  /// of the function's entry block that is marked as a weight.
  mlir::Value value;
  /// The source is K x N (the contraction reads it transposed); otherwise it
  /// is N x K like a torch.nn.Linear weight.
  bool transposed = false;
  /// The ops between the source and the contraction operand (transposes,
  /// broadcasts, casts, widenings), nearest the contraction first.
  llvm::SmallVector<mlir::Operation *> chain;

  bool isConstant() const { return static_cast<bool>(value.getDefiningOp()); }
};

/// What counts as a weight.
struct WeightRules {
  /// Decides which values are compile-time constants.
  ConstantEvaluator &constants;
  /// Names (`<function>:arg<i>`) of arguments that are weights besides those
  /// carrying the `r2q.weight` attribute.
  llvm::ArrayRef<std::string> weightArguments = {};

  /// Whether `argument`, an argument of a function's entry block, was marked
  /// as a weight by the user.
  bool isWeightArgument(mlir::BlockArgument argument) const;
};

/// The r2q.dequantize that defines `value` when its sign planes and scales
/// are compile-time constants: a weight that already is an R2Q code (the
/// learned code of quantization-aware training), kept as it is; null
/// otherwise.
DequantizeOp getCodedWeight(mlir::Value value, ConstantEvaluator &constants);

/// `<function>:arg<i>`, the name of an entry-block argument of a function.
std::string getArgumentName(mlir::BlockArgument argument);

/// y[..., n] = init[..., n] + sum_k x[..., k] * w[n][k], found in `op`.
struct LinearLayer {
  mlir::linalg::LinalgOp op;
  /// Which DPS input is the weight (0 or 1); the other is the activation.
  unsigned weightInput = 1;
  WeightSource weight;
  /// The contraction's loops of the output feature and the reduction.
  unsigned nLoop = 0;
  unsigned kLoop = 0;
  /// Output features and input features of the weight (both static).
  int64_t n = 0;
  int64_t k = 0;

  mlir::OpOperand &activationOperand() const {
    return *mlir::linalg::LinalgOp(op).getDpsInputOperand(1 - weightInput);
  }
  mlir::OpOperand &initOperand() const {
    return *mlir::linalg::LinalgOp(op).getDpsInitOperand(0);
  }
};

/// Recognizes `op` as a linear layer. Fails for anything else: non-float or
/// non-contraction ops, contractions of two activations, several reduction
/// loops, weights that are neither static 2-D tensors computed from constants
/// nor marked arguments. When `op` is a float contraction that is not a
/// linear layer, `whyNot` (if given) says why, for a remark.
mlir::FailureOr<LinearLayer> matchLinearLayer(mlir::linalg::LinalgOp op,
                                              const WeightRules &rules,
                                              std::string *whyNot = nullptr);

/// The N x K weight of a constant source as floats: a plain constant's own
/// data when it is stored N x K (`storage` unused), otherwise computed by
/// `constants` into `storage` and transposed when it is K x N.
quant::Status loadWeightMatrix(const WeightSource &source,
                               ConstantEvaluator &constants,
                               std::vector<float> &storage,
                               quant::MatrixView &view);

/// The name filters and remarks use for a layer (see -r2q-quantize-linear).
/// `index` is the layer's position among the contractions of its function.
std::string getLayerName(const LinearLayer &layer, unsigned index);

/// Replaces the layer's contraction by r2q.matmul on the given quantized
/// weight (sign planes and scales of the N x K weight), transposing the
/// activation and the result where the contraction's layout needs it and
/// adding a non-zero accumulator. `outliers` is empty or the three CSR
/// operands of a dense + sparse weight (offsets, columns, values). Returns
/// the new r2q.matmul.
mlir::Operation *replaceWithQuantizedMatmul(
    mlir::RewriterBase &rewriter, const LinearLayer &layer, mlir::Value signs,
    mlir::Value scales, int64_t groupSize, mlir::ValueRange outliers = {});

} // namespace r2q

#endif // R2Q_DIALECT_R2Q_TRANSFORMS_LINEARLAYERS_H
