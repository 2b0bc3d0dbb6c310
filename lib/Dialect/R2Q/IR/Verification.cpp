//===- Verification.cpp - Shape rules of quantized weights ----------------===//

#include "r2q/Dialect/R2Q/IR/Verification.h"
#include "r2q/Quant/InterleavedWeight.h"
#include "r2q/Quant/PackedWeight.h"
#include "r2q/Quant/Scheme.h"

using namespace mlir;

namespace r2q {

LogicalResult verifyGroupSize(EmitErrorFn emitError, int64_t groupSize) {
  if (groupSize <= 0 || groupSize % 8 != 0)
    return emitError() << "group size must be a positive multiple of 8, got "
                       << groupSize;
  return success();
}

LogicalResult verifyPlaneCount(EmitErrorFn emitError, int64_t planes) {
  if (planes < 1 || planes > quant::kMaxPlanes)
    return emitError() << "number of planes must be between 1 and "
                       << quant::kMaxPlanes << ", got " << planes;
  return success();
}

LogicalResult verifyOutlierOptions(EmitErrorFn emitError, double fraction,
                                   double threshold) {
  if (!(fraction >= 0 && fraction <= 1))
    return emitError() << "outliers must be a fraction between 0 and 1, not "
                       << fraction;
  if (!(threshold >= 0))
    return emitError() << "outlier-threshold must be non-negative, not "
                       << threshold;
  return success();
}

bool isSupportedFloatType(Type type) {
  return type.isF32() || type.isF16() || type.isBF16();
}

LogicalResult verifyWeightShape(EmitErrorFn emitError, int64_t groupSize,
                                int64_t n, int64_t k) {
  if (failed(verifyGroupSize(emitError, groupSize)))
    return failure();
  if (ShapedType::isDynamic(k))
    return emitError() << "K (the reduction dimension) must be static";
  if (k == 0)
    return emitError() << "K (the reduction dimension) must be positive, got 0";
  if (n == 0)
    return emitError()
           << "N (the number of output features) must be positive, got 0";
  return success();
}

namespace {

/// Fails when a static `actual` differs from a static `expected`.
LogicalResult expectDim(EmitErrorFn emitError, int64_t actual, int64_t expected,
                        StringRef what) {
  if (ShapedType::isDynamic(actual) || ShapedType::isDynamic(expected) ||
      actual == expected)
    return success();
  return emitError() << what << ": expected " << expected << ", got " << actual;
}

/// Fails unless `actual` is static and equal to the static `expected`: the
/// sizes that follow from K, which lowerings use to lay out their loops.
LogicalResult expectStaticDim(EmitErrorFn emitError, int64_t actual,
                              int64_t expected, StringRef what) {
  if (actual == expected)
    return success();
  InFlightDiagnostic diagnostic = emitError();
  diagnostic << what << ": expected " << expected << ", got ";
  if (ShapedType::isDynamic(actual))
    diagnostic << "a dynamic size";
  else
    diagnostic << actual;
  return diagnostic;
}

} // namespace

LogicalResult verifyPackedWeight(EmitErrorFn emitError, RankedTensorType signs,
                                 RankedTensorType scales, int64_t groupSize,
                                 int64_t n, int64_t k) {
  if (failed(verifyWeightShape(emitError, groupSize, n, k)))
    return failure();
  int64_t planes = signs.getDimSize(0);
  if (ShapedType::isDynamic(planes))
    return emitError() << "the number of planes (dimension 0 of the signs) "
                          "must be static";
  if (failed(verifyPlaneCount(emitError, planes)) ||
      failed(expectDim(emitError, scales.getDimSize(0), planes,
                       "scales must have one plane per sign plane")) ||
      failed(expectDim(emitError, signs.getDimSize(1), n,
                       "signs must have one row per output feature N")) ||
      failed(expectDim(emitError, scales.getDimSize(1), n,
                       "scales must have one row per output feature N")) ||
      failed(expectDim(emitError, scales.getDimSize(1), signs.getDimSize(1),
                       "scales must have as many rows as the signs")) ||
      failed(expectStaticDim(emitError, signs.getDimSize(2),
                             quant::packedBytesPerRow(k),
                             "signs must have ceil(K/8) bytes per row")) ||
      failed(expectStaticDim(emitError, scales.getDimSize(2),
                             quant::groupsPerRow(k, groupSize),
                             "scales must have ceil(K/group_size) groups per "
                             "row")))
    return failure();
  return success();
}

LogicalResult verifyRowInterleavedWeight(EmitErrorFn emitError,
                                         RankedTensorType signs,
                                         RankedTensorType scales,
                                         int64_t groupSize, int64_t n,
                                         int64_t k) {
  if (ShapedType::isDynamic(n))
    return emitError() << "a weight in the row_interleaved layout needs a "
                          "static N (the number of output features)";
  // The planes, the scale type and K as for the canonical layout.
  int64_t planes = signs.getDimSize(0);
  int64_t groups = quant::groupsPerRow(k, groupSize);
  auto canonicalSigns = RankedTensorType::get(
      {planes, n, quant::packedBytesPerRow(k)}, signs.getElementType());
  auto canonicalScales = RankedTensorType::get(
      {scales.getDimSize(0), n, groups}, scales.getElementType());
  if (failed(verifyPackedWeight(emitError, canonicalSigns, canonicalScales,
                                groupSize, n, k)))
    return failure();
  int64_t blocks = quant::interleavedBlocks(n);
  // `operand` (signs or scales) must have the layout's shape `rule`.
  auto expectShape = [&](RankedTensorType actual, ArrayRef<int64_t> shape,
                         StringRef operand, StringRef rule) -> LogicalResult {
    auto expected = RankedTensorType::get(shape, actual.getElementType());
    if (actual == expected)
      return success();
    return emitError() << operand << " in the row_interleaved layout must be "
                       << rule << " for N = " << n << ", K = " << k
                       << ": expected " << expected << ", got " << actual;
  };
  if (failed(
          expectShape(signs, {planes, blocks, quant::interleavedBlockBytes(k)},
                      "signs", "P x ceil(N/16) x (ceil(K/512) * 1024) bytes")))
    return failure();
  return expectShape(scales,
                     {planes, blocks, quant::kInterleavedBlockRows * groups},
                     "scales", "P x ceil(N/16) x (16 * ceil(K/group_size))");
}

LogicalResult verifyOutliers(EmitErrorFn emitError, RankedTensorType offsets,
                             RankedTensorType columns, RankedTensorType values,
                             int64_t n, int64_t k) {
  if (!ShapedType::isDynamic(n) &&
      failed(expectDim(emitError, offsets.getDimSize(0), n + 1,
                       "outlier offsets must have N + 1 entries")))
    return failure();
  if (failed(expectDim(emitError, values.getDimSize(0), columns.getDimSize(0),
                       "outlier values must have one entry per outlier "
                       "column")))
    return failure();
  if (columns.getElementType().isInteger(16) &&
      quant::SparseOutliers::columnBytes(k) != 2)
    return emitError() << "outlier columns must be i32 when K > 32768 (i16 "
                          "holds columns up to 32767), got K = "
                       << k;
  return success();
}

std::string whyNotQuantizable(int64_t n, int64_t k, int64_t groupSize,
                              bool raggedGroups) {
  if (ShapedType::isDynamic(k))
    return "K is dynamic";
  if (k == 0)
    return "K = 0";
  if (n == 0)
    return "N = 0";
  if (!raggedGroups && k % groupSize != 0)
    return "group size " + std::to_string(groupSize) +
           " does not divide K = " + std::to_string(k);
  return "";
}

} // namespace r2q
