//===- R2QOps.cpp - r2q operations ----------------------------------------===//

#include "r2q/Dialect/R2Q/IR/ConstantFolding.h"
#include "r2q/Dialect/R2Q/IR/ConstantWeights.h"
#include "r2q/Dialect/R2Q/IR/R2Q.h"
#include "r2q/Dialect/R2Q/IR/Verification.h"
#include "r2q/Quant/R2Q.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"

#include <cstring>

using namespace mlir;
using namespace r2q;

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

// Small constants only: r2q-fold-constant-weights folds any size.
LogicalResult QuantizeOp::fold(FoldAdaptor adaptor,
                               SmallVectorImpl<OpFoldResult> &results) {
  return foldSmallConstants(*this, adaptor.getOperands(), results);
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

// Small constants only: r2q-fold-constant-weights folds any size.
LogicalResult ResidualOp::fold(FoldAdaptor adaptor,
                               SmallVectorImpl<OpFoldResult> &results) {
  return foldSmallConstants(*this, adaptor.getOperands(), results);
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

// Small constants only: r2q-fold-constant-weights folds any size.
OpFoldResult DequantizeOp::fold(FoldAdaptor adaptor) {
  SmallVector<OpFoldResult, 1> results;
  if (failed(foldSmallConstants(*this, adaptor.getOperands(), results)))
    return {};
  return results.front();
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
  if (KernelAttr kernel = getKernelAttr();
      kernel && kernel.getStrategy() == KernelStrategy::LutGemv) {
    if (std::string reason = lutGemvUnsupported(); !reason.empty())
      return emitOpError("kernel strategy lut_gemv cannot compute this op: ")
             << reason;
  }
  if (KernelAttr kernel = getKernelAttr();
      kernel && (kernel.getStrategy() == KernelStrategy::Int8Gemm ||
                 kernel.getOtherwise() == KernelStrategy::Int8Gemm)) {
    if (std::string reason = int8GemmUnsupported(); !reason.empty())
      return emitOpError("kernel strategy int8_gemm cannot compute this op: ")
             << reason;
  }
  if (KernelAttr kernel = getKernelAttr();
      kernel && (kernel.getStrategy() == KernelStrategy::MmaGemm ||
                 kernel.getStrategy() == KernelStrategy::WgmmaGemm)) {
    StringRef name = stringifyKernelStrategy(kernel.getStrategy());
    if (std::string reason = mmaGemmUnsupported(kernel.getTileRows(), name);
        !reason.empty())
      return emitOpError("kernel strategy ")
             << name << " cannot compute this op: " << reason;
  }
  if (KernelAttr kernel = getKernelAttr();
      kernel && kernel.getStrategy() == KernelStrategy::ByteLutGemv) {
    if (std::string reason = byteLutGemvUnsupported(kernel.getTileRows());
        !reason.empty())
      return emitOpError(
                 "kernel strategy byte_lut_gemv cannot compute this op: ")
             << reason;
  }
  if (KernelAttr kernel = getKernelAttr();
      kernel && (kernel.getStrategy() == KernelStrategy::WarpGemv ||
                 kernel.getStrategy() == KernelStrategy::WarpLutGemv)) {
    if (std::string reason = warpGemvUnsupported(); !reason.empty())
      return emitOpError("kernel strategy ")
             << stringifyKernelStrategy(kernel.getStrategy())
             << " cannot compute this op: " << reason;
  }
  auto emitError = [&] { return emitOpError(); };
  int64_t n = resultType.getDimSize(rank - 1);
  int64_t k = inputType.getDimSize(rank - 1);
  KernelAttr kernel = getKernelAttr();
  auto verifyWeight =
      kernel && kernel.getLayout() == KernelLayout::RowInterleaved
          ? verifyRowInterleavedWeight
          : verifyPackedWeight;
  if (failed(verifyWeight(emitError, getSigns().getType(),
                          getScales().getType(), getGroupSize(), n, k)))
    return failure();
  Value offsets = getOutlierOffsets(), columns = getOutlierColumns();
  Value values = getOutlierValues();
  if (!offsets && !columns && !values)
    return success();
  if (!offsets || !columns || !values)
    return emitOpError("takes all three outlier operands (offsets, columns, "
                       "values) or none");
  if (ShapedType::isDynamic(n))
    n = getOutputFeatures();
  return verifyOutliers(emitError, cast<RankedTensorType>(offsets.getType()),
                        cast<RankedTensorType>(columns.getType()),
                        cast<RankedTensorType>(values.getType()), n, k);
}

/// Why a kernel that works on chunks of 128 columns cannot take groups of
/// `groupSize`: it takes 8 * 2^i up to 128 or a multiple of 128.
static std::string groupSizeUnsupported(int64_t groupSize, StringRef strategy) {
  if (groupSize % kLutChunkColumns == 0 || kLutChunkColumns % groupSize == 0)
    return "";
  return "its group size is " + std::to_string(groupSize) + " (" +
         strategy.str() + " takes 8 * 2^i up to 128 or a multiple of 128)";
}

std::string MatmulOp::lutGemvUnsupported() {
  RankedTensorType input = getInput().getType();
  int64_t rows = 1;
  for (int64_t size : input.getShape().drop_back()) {
    if (ShapedType::isDynamic(size))
      return "its rows are dynamic (lut_gemv takes a static batch)";
    rows *= size;
  }
  if (rows < 1 || rows > kLutMaxRows)
    return "it has " + std::to_string(rows) + " rows (lut_gemv takes 1 to " +
           std::to_string(kLutMaxRows) + ")";
  return groupSizeUnsupported(getGroupSize(), "lut_gemv");
}

std::string MatmulOp::int8GemmUnsupported() {
  return groupSizeUnsupported(getGroupSize(), "int8_gemm");
}

std::string MatmulOp::warpGemvUnsupported() {
  if (!getInput().getType().hasStaticShape())
    return "its rows are dynamic (the warp kernels take a static batch)";
  if (!getSigns().getType().hasStaticShape() ||
      !getScales().getType().hasStaticShape())
    return "its weight's shape is dynamic";
  return "";
}

/// The activation rows of `input` (the product of its batch dimensions),
/// which must be static.
static int64_t staticRows(RankedTensorType input) {
  int64_t rows = 1;
  for (int64_t size : input.getShape().drop_back())
    rows *= size;
  return rows;
}

std::string MatmulOp::mmaGemmUnsupported(int64_t tileRows, StringRef strategy) {
  if (std::string reason = warpGemvUnsupported(); !reason.empty())
    return reason;
  if (tileRows != 0 && tileRows != 64 && tileRows != 128 && tileRows != 192)
    return "its tile_rows is " + std::to_string(tileRows) + " (" +
           strategy.str() +
           " takes 0, 64, 128 or 192 output features per block)";
  if (int64_t rows = staticRows(getInput().getType());
      rows > kGpuMaxGridYZ * kMmaMaxBlockRows)
    return "it has " + std::to_string(rows) + " rows (" + strategy.str() +
           " takes " + std::to_string(kGpuMaxGridYZ * kMmaMaxBlockRows) +
           ": a CUDA grid has at most " + std::to_string(kGpuMaxGridYZ) +
           " blocks of " + std::to_string(kMmaMaxBlockRows) +
           " rows in y; split the batch)";
  return "";
}

std::string MatmulOp::byteLutGemvUnsupported(int64_t tileRows) {
  if (std::string reason = warpGemvUnsupported(); !reason.empty())
    return reason;
  if (tileRows < 0 || tileRows % 16 != 0 || tileRows > 128)
    return "its tile_rows is " + std::to_string(tileRows) +
           " (byte_lut_gemv takes 0 or a multiple of 16 up to 128 output "
           "features per warp)";
  if (int64_t rows = staticRows(getInput().getType()); rows > kGpuMaxGridYZ)
    return "it has " + std::to_string(rows) + " rows (byte_lut_gemv takes " +
           std::to_string(kGpuMaxGridYZ) +
           ", one per block of a CUDA grid's z)";
  return "";
}

namespace {

/// The integers of a constant 1-D tensor of i16 or i32 (dense, splat or
/// dense_resource), or nullopt when `value` is not a readable constant.
std::optional<std::vector<int64_t>> constantIntegers(Value value) {
  ElementsAttr attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  auto type = cast<ShapedType>(attr.getType());
  if (!type.hasStaticShape())
    return std::nullopt;
  int64_t count = type.getNumElements();
  if (auto dense = dyn_cast<DenseElementsAttr>(attr); dense && dense.isSplat())
    return std::vector<int64_t>(count,
                                dense.getSplatValue<APInt>().getSExtValue());
  std::optional<ArrayRef<char>> data = getContiguousData(attr);
  if (!data)
    return std::nullopt;
  std::vector<int64_t> values(count);
  bool narrow = type.getElementTypeBitWidth() == 16;
  for (int64_t i = 0; i < count; ++i) {
    if (narrow) {
      int16_t element;
      std::memcpy(&element, data->data() + 2 * i, 2);
      values[i] = element;
    } else {
      int32_t element;
      std::memcpy(&element, data->data() + 4 * i, 4);
      values[i] = element;
    }
  }
  return values;
}

} // namespace

LogicalResult MatmulOp::verifyConstantOutliers() {
  if (!hasOutliers())
    return success();
  std::optional<std::vector<int64_t>> offsets =
      constantIntegers(getOutlierOffsets());
  std::optional<std::vector<int64_t>> columns =
      constantIntegers(getOutlierColumns());
  if (!offsets || !columns)
    return success();
  int64_t k = getInput().getType().getShape().back();
  int64_t count = static_cast<int64_t>(columns->size());
  if (offsets->empty())
    return emitOpError("outlier offsets must have N + 1 entries, got none");
  if (offsets->front() != 0 || offsets->back() != count)
    return emitOpError("outlier offsets must run from 0 to the number of "
                       "outliers ")
           << count << ", got " << offsets->front() << " to "
           << offsets->back();
  for (size_t row = 0; row + 1 < offsets->size(); ++row) {
    int64_t begin = (*offsets)[row], end = (*offsets)[row + 1];
    if (end < begin)
      return emitOpError("outlier offsets must not decrease: row ")
             << row << " runs from " << begin << " to " << end;
    for (int64_t j = begin; j < end; ++j) {
      int64_t column = (*columns)[j];
      if (column < 0 || column >= k)
        return emitOpError("outlier column ")
               << column << " of row " << row << " is outside [0, K = " << k
               << ")";
      if (j > begin && column <= (*columns)[j - 1])
        return emitOpError("outlier columns of row ")
               << row << " must ascend, got " << (*columns)[j - 1] << " then "
               << column;
    }
  }
  return success();
}

#define GET_OP_CLASSES
#include "r2q/Dialect/R2Q/IR/R2QOps.cpp.inc"
