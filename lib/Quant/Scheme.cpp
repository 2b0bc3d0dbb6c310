//===- Scheme.cpp - Quantization schemes ----------------------------------===//

#include "r2q/Quant/Scheme.h"

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
  if (cols % scheme.groupSize != 0)
    return Status::failure("group size " + std::to_string(scheme.groupSize) +
                           " does not divide K = " + std::to_string(cols));
  return Status::success();
}

} // namespace r2q::quant
