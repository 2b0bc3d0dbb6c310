//===- ConstantFolding.cpp - Evaluating r2q ops on constants --------------===//

#include "r2q/Dialect/R2Q/IR/ConstantFolding.h"
#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace r2q {
namespace {

/// The bytes of `values` seen as chars, for building attributes.
template <typename T> ArrayRef<char> asChars(const std::vector<T> &values) {
  return ArrayRef<char>(reinterpret_cast<const char *>(values.data()),
                        values.size() * sizeof(T));
}

/// The row-major floats of `values` converted to `elementType`'s format.
std::vector<uint8_t> encodeFloats(ArrayRef<float> values, Type elementType) {
  return quant::encodeScales(values, *toQuantFloatType(elementType));
}

/// `attr` as elements, or a failure saying that operand `index` of `op` is
/// not a constant.
quant::Status getConstantOperand(Operation *op, ArrayRef<Attribute> operands,
                                 unsigned index, ElementsAttr &attr) {
  attr = dyn_cast_if_present<ElementsAttr>(operands[index]);
  if (!attr)
    return quant::Status::failure("operand " + std::to_string(index) + " of " +
                                  op->getName().getStringRef().str() +
                                  " is not a constant");
  return quant::Status::success();
}

quant::Status evaluateQuantize(QuantizeOp op, ArrayRef<Attribute> operands,
                               SmallVectorImpl<Attribute> &results) {
  ElementsAttr weight;
  quant::PackedWeight packed;
  quant::Status status = getConstantOperand(op, operands, 0, weight);
  if (status)
    status = quantizeConstant(weight, toQuantScheme(op.getScheme()), packed);
  if (!status)
    return status;
  auto [signs, scales] = makePackedWeightData(packed, op.getSigns().getType(),
                                              op.getScales().getType(), "r2q");
  results.append({signs, scales});
  return quant::Status::success();
}

quant::Status evaluateResidual(ResidualOp op, ArrayRef<Attribute> operands,
                               SmallVectorImpl<Attribute> &results) {
  quant::Scheme stage;
  stage.groupSize = op.getGroupSize();
  stage.planes = 1;
  stage.scaleType =
      *toQuantFloatType(op.getScales().getType().getElementType());
  ElementsAttr residual;
  std::vector<float> splatStorage;
  quant::MatrixView view;
  quant::PackedWeight packed;
  quant::Status status = getConstantOperand(op, operands, 0, residual);
  if (status)
    status = viewConstantWeight(residual, splatStorage, view);
  if (status)
    status = quant::quantize(view, stage, packed);
  if (!status)
    return status;
  // next = residual - a * s, in the same f32 arithmetic as the core's stage.
  std::vector<float> next(packed.rows * packed.cols);
  for (int64_t row = 0; row < packed.rows; ++row)
    for (int64_t col = 0; col < packed.cols; ++col)
      next[row * packed.cols + col] =
          view.at(row, col) - packed.value(row, col);
  auto [signs, scales] = makePackedWeightData(packed, op.getSigns().getType(),
                                              op.getScales().getType(), "r2q");
  RankedTensorType nextType = op.getNext().getType();
  results.append(
      {signs, scales,
       makeConstantData(nextType,
                        asChars(encodeFloats(next, nextType.getElementType())),
                        "r2q_residual")});
  return quant::Status::success();
}

quant::Status evaluateDequantize(DequantizeOp op, ArrayRef<Attribute> operands,
                                 SmallVectorImpl<Attribute> &results) {
  RankedTensorType resultType = op.getResult().getType();
  if (!resultType.hasStaticShape())
    return quant::Status::failure("the dequantized weight's shape is dynamic");
  ElementsAttr signs, scales;
  quant::PackedWeight packed;
  quant::Status status = getConstantOperand(op, operands, 0, signs);
  if (status)
    status = getConstantOperand(op, operands, 1, scales);
  if (status)
    status = readPackedConstant(signs, scales, op.getGroupSize(),
                                resultType.getDimSize(1), packed);
  if (!status)
    return status;
  std::vector<float> values(packed.rows * packed.cols);
  quant::dequantize(packed, values.data());
  results.push_back(makeConstantData(
      resultType, asChars(encodeFloats(values, resultType.getElementType())),
      "r2q_dequantized"));
  return quant::Status::success();
}

} // namespace

bool isConstantFoldable(Operation *op) {
  return isa<QuantizeOp, ResidualOp, DequantizeOp>(op);
}

std::optional<int64_t> countFoldedWeights(Operation *op) {
  // The N x K float tensor: the weight (or residual) taken, or the one made.
  Value weight = TypeSwitch<Operation *, Value>(op)
                     .Case([](QuantizeOp op) { return op.getWeight(); })
                     .Case([](ResidualOp op) { return op.getResidual(); })
                     .Case([](DequantizeOp op) { return op.getResult(); });
  auto type = cast<ShapedType>(weight.getType());
  if (!type.hasStaticShape())
    return std::nullopt;
  return type.getNumElements();
}

quant::Status evaluateOnConstants(Operation *op, ArrayRef<Attribute> operands,
                                  SmallVectorImpl<Attribute> &results) {
  return TypeSwitch<Operation *, quant::Status>(op)
      .Case([&](QuantizeOp op) {
        return evaluateQuantize(op, operands, results);
      })
      .Case([&](ResidualOp op) {
        return evaluateResidual(op, operands, results);
      })
      .Case([&](DequantizeOp op) {
        return evaluateDequantize(op, operands, results);
      });
}

LogicalResult foldSmallConstants(Operation *op, ArrayRef<Attribute> operands,
                                 SmallVectorImpl<OpFoldResult> &results) {
  std::optional<int64_t> weights = countFoldedWeights(op);
  if (!weights || *weights > kMaxFoldHookWeights ||
      llvm::any_of(operands, [](Attribute attr) { return !attr; }))
    return failure();
  SmallVector<Attribute> values;
  if (!evaluateOnConstants(op, operands, values))
    return failure(); // Left for r2q-fold-constant-weights, which says why.
  results.append(values.begin(), values.end());
  return success();
}

} // namespace r2q
