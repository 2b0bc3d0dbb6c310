//===- ConstantEvaluation.h - Tensors computed from constants ---*- C++ -*-===//
//
// Real models rarely hand a linear layer its weight as one plain constant:
// Torch-MLIR and hand-written IR slice fused QKV matrices, collapse 3-D
// weights, scale them, widen f16 weights and dequantize int8 ones. Whatever
// the chain, a weight is a value computed from constants by pure ops, and so
// can be computed at compile time. This evaluator does that for the ops such
// chains are made of, exactly as the compiled code would (every intermediate
// result is rounded to its element type), within a size bound.
//
// Known ops: arith.constant (dense, dense_resource, splat; float or integer),
// ml_program.global_load_const of an immutable global, tensor.cast,
// tensor.extract_slice, tensor.collapse_shape, tensor.expand_shape,
// element-wise arith ops on tensors, and linalg ops whose loops are all
// parallel (transpose, broadcast, fill, element-wise named ops, generic) with
// bodies of the arith ops below.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_DIALECT_R2Q_TRANSFORMS_CONSTANTEVALUATION_H
#define R2Q_DIALECT_R2Q_TRANSFORMS_CONSTANTEVALUATION_H

#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <string>
#include <vector>

namespace r2q {

/// A tensor evaluated at compile time: row-major values of its element type,
/// held as doubles (integers sign-extended from their width).
struct ConstantTensor {
  llvm::SmallVector<int64_t> shape;
  std::vector<double> values;
};

/// Decides which values are compile-time constants, and computes them.
class ConstantEvaluator {
public:
  /// No intermediate tensor may hold more than `maxElements` elements.
  explicit ConstantEvaluator(int64_t maxElements) : maxElements(maxElements) {}

  /// Whether `value` (a static tensor or a scalar) is computed from constants
  /// by known ops only, each of at most maxElements elements. Cheap: looks at
  /// the ops, reads no data. On false, `why` says which op stops it.
  bool isConstant(mlir::Value value, std::string *why = nullptr);

  /// The value of a tensor isConstant accepts; fails with a message when
  /// constant data is not available (a missing or mis-sized resource blob).
  mlir::FailureOr<ConstantTensor> evaluate(mlir::Value value,
                                           std::string &error);

private:
  bool checkOp(mlir::Operation *op, std::string &why);

  int64_t maxElements;
  /// Producers being checked, nearest the first value asked about first.
  unsigned depth = 0;
  /// Values already checked, with the reason for those that are not
  /// constant (empty for those that are).
  llvm::DenseMap<mlir::Value, std::string> checked;
};

} // namespace r2q

#endif // R2Q_DIALECT_R2Q_TRANSFORMS_CONSTANTEVALUATION_H
