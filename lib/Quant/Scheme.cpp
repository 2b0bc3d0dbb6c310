//===- Scheme.cpp - Quantization schemes ----------------------------------===//

#include "r2q/Quant/Scheme.h"

#include <cmath>

namespace r2q::quant {

std::string_view methodName(Method method) {
  return method == Method::Greedy ? "greedy" : "refined";
}

std::optional<Method> parseMethod(std::string_view name) {
  for (Method method : {Method::Greedy, Method::Refined})
    if (methodName(method) == name)
      return method;
  return std::nullopt;
}

double bitsPerWeight(const Scheme &scheme) {
  double scaleBits = 8.0 * byteWidth(scheme.scaleType);
  return scheme.planes * (1.0 + scaleBits / scheme.groupSize);
}

double bitsPerWeight(const Scheme &scheme, int64_t cols) {
  double signBits = 8.0 * packedBytesPerRow(cols);
  double scaleBits =
      8.0 * byteWidth(scheme.scaleType) * groupsPerRow(cols, scheme.groupSize);
  return scheme.planes * (signBits + scaleBits) / cols;
}

Status verifyScheme(const Scheme &scheme, int64_t cols) {
  if (scheme.planes < 1 || scheme.planes > kMaxPlanes)
    return Status::failure("number of planes must be between 1 and " +
                           std::to_string(kMaxPlanes) + ", got " +
                           std::to_string(scheme.planes));
  if (scheme.groupSize < 1)
    return Status::failure("group size must be positive, got " +
                           std::to_string(scheme.groupSize));
  if (cols < 1)
    return Status::failure("the weight has no columns");
  const OutlierPolicy &outliers = scheme.outliers;
  if (!(outliers.fraction >= 0 && outliers.fraction < 1))
    return Status::failure(
        "the outlier fraction must be at least 0 and below 1, got " +
        std::to_string(outliers.fraction));
  if (!(outliers.threshold >= 0) || std::isinf(outliers.threshold))
    return Status::failure(
        "the outlier threshold must be finite and non-negative, got " +
        std::to_string(outliers.threshold));
  if (outliers.valueType == FloatType::BF16)
    return Status::failure("outlier corrections are f16 or f32, not bf16");
  return Status::success();
}

} // namespace r2q::quant
