//===- ConstantWeights.cpp - MLIR constants <-> the numerics core ---------===//

#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Quant/R2Q.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cstring>
#include <vector>

using namespace mlir;

namespace r2q {

std::optional<quant::FloatType> toQuantFloatType(Type type) {
  if (type.isF32())
    return quant::FloatType::F32;
  if (type.isF16())
    return quant::FloatType::F16;
  if (type.isBF16())
    return quant::FloatType::BF16;
  return std::nullopt;
}

mlir::FloatType toMlirFloatType(MLIRContext *context, quant::FloatType type) {
  switch (type) {
  case quant::FloatType::F32:
    return Float32Type::get(context);
  case quant::FloatType::F16:
    return Float16Type::get(context);
  case quant::FloatType::BF16:
    return BFloat16Type::get(context);
  }
  llvm_unreachable("unknown float type");
}

quant::Scheme toQuantScheme(SchemeAttr scheme) {
  quant::Scheme result;
  result.groupSize = scheme.getGroupSize();
  result.planes = static_cast<int>(scheme.getPlanes());
  result.method = scheme.getMethod() == Method::Greedy ? quant::Method::Greedy
                                                       : quant::Method::Refined;
  result.scaleType = *toQuantFloatType(scheme.getScaleType());
  return result;
}

/// The bytes a dense_resource of `type` must hold (one element per
/// ceil(bits / 8) bytes), or nullopt for types whose storage size is not
/// known here (dynamic shapes, index or non-numeric elements).
static std::optional<int64_t> resourceBytesNeeded(ShapedType type) {
  Type element = type.getElementType();
  int64_t parts = 1; // A complex number is two of its element type.
  if (auto complex = dyn_cast<ComplexType>(element)) {
    element = complex.getElementType();
    parts = 2;
  }
  if (!type.hasStaticShape() || !element.isIntOrFloat())
    return std::nullopt;
  int64_t elementBytes =
      parts * llvm::divideCeil(element.getIntOrFloatBitWidth(), 8);
  return type.getNumElements() * elementBytes;
}

std::optional<std::string> describeBadResourceBlob(ElementsAttr attr) {
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!resource)
    return std::nullopt;
  StringRef key = resource.getRawHandle().getKey();
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  if (!blob)
    return ("dense_resource '" + key +
            "' has no data: no entry for it in the dialect_resources "
            "section, or it was elided")
        .str();
  std::optional<int64_t> needed = resourceBytesNeeded(resource.getType());
  int64_t held = static_cast<int64_t>(blob->getData().size());
  if (!needed || held == *needed)
    return std::nullopt;
  std::string message;
  llvm::raw_string_ostream os(message);
  os << "dense_resource '" << key << "' holds " << held << " bytes, but "
     << resource.getType() << " needs " << *needed << ": the blob is "
     << (held < *needed ? "truncated" : "too long");
  return message;
}

LogicalResult verifyResourceBlob(ElementsAttr attr,
                                 function_ref<InFlightDiagnostic()> emitError) {
  if (std::optional<std::string> problem = describeBadResourceBlob(attr)) {
    emitError() << *problem;
    return failure();
  }
  return success();
}

std::optional<ArrayRef<char>> getContiguousData(ElementsAttr attr) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (dense.isSplat())
      return std::nullopt;
    return dense.getRawData();
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    if (describeBadResourceBlob(attr))
      return std::nullopt;
    return resource.getRawHandle().getBlob()->getData();
  }
  return std::nullopt;
}

quant::Status viewConstantWeight(ElementsAttr weight,
                                 std::vector<float> &splatStorage,
                                 quant::MatrixView &view) {
  auto type = cast<ShapedType>(weight.getType());
  std::optional<quant::FloatType> elementType =
      toQuantFloatType(type.getElementType());
  if (type.getRank() != 2 || !type.hasStaticShape() || !elementType)
    return quant::Status::failure(
        "a constant weight must be a static 2-D tensor of f32, f16 or bf16");
  int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
  if (auto dense = dyn_cast<DenseElementsAttr>(weight);
      dense && dense.isSplat()) {
    splatStorage.assign(rows * cols,
                        dense.getSplatValue<APFloat>().convertToFloat());
    view = quant::MatrixView::ofFloats(splatStorage.data(), rows, cols);
    return quant::Status::success();
  }
  if (std::optional<std::string> problem = describeBadResourceBlob(weight))
    return quant::Status::failure(*problem);
  std::optional<ArrayRef<char>> data = getContiguousData(weight);
  if (!data)
    return quant::Status::failure("the constant weight's data is not readable");
  view = quant::MatrixView{data->data(), *elementType, rows, cols};
  return quant::Status::success();
}

quant::Status quantizeConstant(ElementsAttr weight, const quant::Scheme &scheme,
                               quant::PackedWeight &result) {
  std::vector<float> splatStorage;
  quant::MatrixView view;
  if (quant::Status status = viewConstantWeight(weight, splatStorage, view);
      !status)
    return status;
  return quant::quantize(view, scheme, result);
}

/// getContiguousData, with a splat of whole bytes per element expanded into
/// `splatStorage`.
static std::optional<ArrayRef<char>>
getExpandedData(ElementsAttr attr, std::vector<char> &splatStorage) {
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense || !dense.isSplat())
    return getContiguousData(attr);
  ArrayRef<char> element = dense.getRawData();
  if (dense.getElementType().getIntOrFloatBitWidth() % 8 != 0)
    return std::nullopt;
  splatStorage.clear();
  splatStorage.reserve(element.size() * dense.getNumElements());
  for (int64_t i = 0, e = dense.getNumElements(); i < e; ++i)
    llvm::append_range(splatStorage, element);
  return ArrayRef<char>(splatStorage);
}

quant::Status readPackedConstant(ElementsAttr signs, ElementsAttr scales,
                                 int64_t groupSize, int64_t cols,
                                 quant::PackedWeight &result) {
  auto signsType = cast<ShapedType>(signs.getType());
  auto scalesType = cast<ShapedType>(scales.getType());
  for (ElementsAttr attr : {signs, scales})
    if (std::optional<std::string> problem = describeBadResourceBlob(attr))
      return quant::Status::failure(*problem);
  std::vector<char> signStorage, scaleStorage;
  std::optional<ArrayRef<char>> signBytes = getExpandedData(signs, signStorage);
  std::optional<ArrayRef<char>> scaleBytes =
      getExpandedData(scales, scaleStorage);
  std::optional<quant::FloatType> scaleType =
      toQuantFloatType(scalesType.getElementType());
  if (!signBytes || !scaleBytes || !scaleType || !signsType.hasStaticShape())
    return quant::Status::failure("sign planes or scales are not readable");
  quant::Scheme scheme;
  scheme.groupSize = groupSize;
  scheme.planes = static_cast<int>(signsType.getDimSize(0));
  scheme.scaleType = *scaleType;
  auto asBytes = [](ArrayRef<char> data) {
    return std::span<const uint8_t>(
        reinterpret_cast<const uint8_t *>(data.data()), data.size());
  };
  return quant::PackedWeight::fromEncoded(signsType.getDimSize(1), cols, scheme,
                                          asBytes(*signBytes),
                                          asBytes(*scaleBytes), result);
}

ElementsAttr makeConstantData(ShapedType type, ArrayRef<char> bytes,
                              StringRef blobName) {
  if (bytes.size() <= kInlineConstantBytes)
    return DenseElementsAttr::getFromRawBuffer(type, bytes);
  size_t alignment = type.getElementTypeBitWidth() / 8;
  return DenseResourceElementsAttr::get(
      type, blobName,
      HeapAsmResourceBlob::allocateAndCopyWithAlign(
          bytes, std::max<size_t>(alignment, 1), /*dataIsMutable=*/false));
}

std::pair<ElementsAttr, ElementsAttr>
makePackedWeightData(const quant::PackedWeight &weight, ShapedType signsType,
                     ShapedType scalesType, StringRef blobPrefix) {
  std::vector<uint8_t> scaleBytes = weight.encodedScales();
  auto asChars = [](const std::vector<uint8_t> &bytes) {
    return ArrayRef<char>(reinterpret_cast<const char *>(bytes.data()),
                          bytes.size());
  };
  return {makeConstantData(signsType, asChars(weight.signs),
                           (blobPrefix + "_signs").str()),
          makeConstantData(scalesType, asChars(scaleBytes),
                           (blobPrefix + "_scales").str())};
}

namespace {

/// The little-endian bytes of `values`, each narrowed to IntType.
template <typename IntType>
std::vector<char> integerBytes(const std::vector<int32_t> &values) {
  std::vector<char> bytes(values.size() * sizeof(IntType));
  for (size_t i = 0; i < values.size(); ++i) {
    IntType value = static_cast<IntType>(values[i]);
    std::memcpy(&bytes[i * sizeof(IntType)], &value, sizeof(IntType));
  }
  return bytes;
}

} // namespace

OutlierData makeOutlierData(MLIRContext *context,
                            const quant::SparseOutliers &outliers, int64_t cols,
                            StringRef blobPrefix) {
  auto vector = [](int64_t size, Type elementType) {
    return RankedTensorType::get({size}, elementType);
  };
  int64_t count = outliers.count();
  bool narrowColumns = quant::SparseOutliers::columnBytes(cols) == 2;
  std::vector<char> columnBytes = narrowColumns
                                      ? integerBytes<int16_t>(outliers.columns)
                                      : integerBytes<int32_t>(outliers.columns);
  std::vector<uint8_t> valueBytes =
      quant::encodeScales(outliers.values, outliers.valueType);
  Type valueType = toMlirFloatType(context, outliers.valueType);
  return {
      makeConstantData(vector(static_cast<int64_t>(outliers.rowOffsets.size()),
                              IntegerType::get(context, 32)),
                       integerBytes<int32_t>(outliers.rowOffsets),
                       (blobPrefix + "_outlier_offsets").str()),
      makeConstantData(
          vector(count, IntegerType::get(context, narrowColumns ? 16 : 32)),
          columnBytes, (blobPrefix + "_outlier_columns").str()),
      makeConstantData(
          vector(count, valueType),
          ArrayRef<char>(reinterpret_cast<const char *>(valueBytes.data()),
                         valueBytes.size()),
          (blobPrefix + "_outlier_values").str())};
}

} // namespace r2q
