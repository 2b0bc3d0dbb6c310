//===- R2QOps.cpp - r2q operations ----------------------------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/IR/Verification.h"
#include "r2q/Quant/R2Q.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace r2q;

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

} // namespace

//===----------------------------------------------------------------------===//
// QuantizeOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> location, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  QuantizeOp::Adaptor adaptor(operands, attributes, properties, regions);
  auto weightType = dyn_cast<RankedTensorType>(adaptor.getWeight().getType());
  SchemeAttr scheme = adaptor.getScheme();
  if (!scheme)
    return emitOptionalError(location, "'r2q.quantize' op needs a scheme");
  if (!weightType || weightType.getRank() != 2)
    return emitOptionalError(location,
                             "'r2q.quantize' op the weight must be a 2-D "
                             "tensor (N x K), got ",
                             adaptor.getWeight().getType());
  int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);
  auto emitError = [&] {
    if (!location)
      return InFlightDiagnostic();
    return mlir::emitError(*location) << "'r2q.quantize' op ";
  };
  if (failed(verifyWeightShape(emitError, scheme.getGroupSize(), n, k)))
    return failure();
  inferredReturnTypes.push_back(scheme.getSignsType(n, k));
  inferredReturnTypes.push_back(scheme.getScalesType(n, k));
  return success();
}

LogicalResult QuantizeOp::fold(FoldAdaptor adaptor,
                               SmallVectorImpl<OpFoldResult> &results) {
  auto weight = dyn_cast_if_present<ElementsAttr>(adaptor.getWeight());
  if (!weight)
    return failure();
  quant::PackedWeight packed;
  if (!quantizeConstant(weight, toQuantScheme(getScheme()), packed).ok())
    return failure(); // Left for the passes, which report why.
  auto [signs, scales] = makePackedWeightData(packed, getSigns().getType(),
                                              getScales().getType(), "r2q");
  results.append({signs, scales});
  return success();
}

//===----------------------------------------------------------------------===//
// ResidualOp
//===----------------------------------------------------------------------===//

LogicalResult ResidualOp::verify() {
  auto emitError = [&] { return emitOpError(); };
  RankedTensorType residualType = getResidual().getType();
  int64_t n = residualType.getDimSize(0), k = residualType.getDimSize(1);
  int64_t groupSize = getGroupSize();
  if (failed(verifyWeightShape(emitError, groupSize, n, k)))
    return failure();
  if (getNext().getType() != residualType)
    return emitOpError("the next residual must have the type of the residual ")
           << residualType << ", got " << getNext().getType();
  // One plane: the packed-weight rules with a leading plane dimension of 1.
  auto withPlane = [](RankedTensorType type) {
    SmallVector<int64_t> shape{1};
    llvm::append_range(shape, type.getShape());
    return RankedTensorType::get(shape, type.getElementType());
  };
  return verifyPackedWeight(emitError, withPlane(getSigns().getType()),
                            withPlane(getScales().getType()), groupSize, n, k);
}

LogicalResult ResidualOp::fold(FoldAdaptor adaptor,
                               SmallVectorImpl<OpFoldResult> &results) {
  auto residual = dyn_cast_if_present<ElementsAttr>(adaptor.getResidual());
  if (!residual)
    return failure();
  quant::Scheme stage;
  stage.groupSize = getGroupSize();
  stage.planes = 1;
  stage.scaleType = *toQuantFloatType(getScales().getType().getElementType());
  std::vector<float> splatStorage;
  quant::MatrixView view;
  quant::PackedWeight packed;
  if (!viewConstantWeight(residual, splatStorage, view).ok() ||
      !quant::quantize(view, stage, packed).ok())
    return failure();
  // next = residual - a * s, in the same f32 arithmetic as the core's stage.
  std::vector<float> next(packed.rows * packed.cols);
  for (int64_t row = 0; row < packed.rows; ++row)
    for (int64_t col = 0; col < packed.cols; ++col)
      next[row * packed.cols + col] =
          view.at(row, col) - packed.value(row, col);
  auto [signs, scales] = makePackedWeightData(packed, getSigns().getType(),
                                              getScales().getType(), "r2q");
  results.append({signs, scales});
  results.push_back(makeConstantData(
      getNext().getType(),
      asChars(encodeFloats(next, getNext().getType().getElementType())),
      "r2q_residual"));
  return success();
}

//===----------------------------------------------------------------------===//
// DequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult DequantizeOp::verify() {
  RankedTensorType resultType = getResult().getType();
  return verifyPackedWeight([&] { return emitOpError(); }, getSigns().getType(),
                            getScales().getType(), getGroupSize(),
                            resultType.getDimSize(0), resultType.getDimSize(1));
}

OpFoldResult DequantizeOp::fold(FoldAdaptor adaptor) {
  auto signs = dyn_cast_if_present<ElementsAttr>(adaptor.getSigns());
  auto scales = dyn_cast_if_present<ElementsAttr>(adaptor.getScales());
  RankedTensorType resultType = getResult().getType();
  if (!signs || !scales || !resultType.hasStaticShape())
    return {};
  quant::PackedWeight packed;
  if (!readPackedConstant(signs, scales, getGroupSize(),
                          resultType.getDimSize(1), packed)
           .ok())
    return {};
  std::vector<float> values(packed.rows * packed.cols);
  quant::dequantize(packed, values.data());
  return makeConstantData(
      resultType, asChars(encodeFloats(values, resultType.getElementType())),
      "r2q_dequantized");
}

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::verify() {
  RankedTensorType inputType = getInput().getType();
  RankedTensorType resultType = getResult().getType();
  int64_t rank = inputType.getRank();
  if (rank < 1)
    return emitOpError("the input must have rank >= 1 with K innermost");
  if (resultType.getRank() != rank)
    return emitOpError("the result must have the input's rank ")
           << rank << ", got " << resultType.getRank();
  for (int64_t dim = 0; dim + 1 < rank; ++dim) {
    int64_t in = inputType.getDimSize(dim), out = resultType.getDimSize(dim);
    if (!ShapedType::isDynamic(in) && !ShapedType::isDynamic(out) && in != out)
      return emitOpError("batch dimension ")
             << dim << " of the result is " << out << " but the input's is "
             << in;
  }
  return verifyPackedWeight([&] { return emitOpError(); }, getSigns().getType(),
                            getScales().getType(), getGroupSize(),
                            resultType.getDimSize(rank - 1),
                            inputType.getDimSize(rank - 1));
}

#define GET_OP_CLASSES
#include "r2q/Dialect/R2Q/IR/R2QOps.cpp.inc"
