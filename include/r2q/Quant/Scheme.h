//===- Scheme.h - How a weight matrix is quantized --------------*- C++ -*-===//
//
// Part of the r2q numerics core, which depends on nothing but the C++ standard
// library so that the MLIR folder, the tuning passes, the Python module and the
// tests all share one implementation of the math.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_SCHEME_H
#define R2Q_QUANT_SCHEME_H

#include "r2q/Quant/FloatFormats.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace r2q::quant {

/// The most sign bitplanes a scheme may use (bits per weight, before scales).
inline constexpr int kMaxPlanes = 4;

/// How the sign planes and scales of a group are chosen.
enum class Method {
  /// The paper: each plane is the sign of the residual left by the previous
  /// planes, its scale the mean absolute value of that residual.
  Greedy,
  /// Greedy, then alternating least-squares scales for fixed signs and
  /// nearest-level signs for fixed scales while the error decreases.
  Refined,
};

std::string_view methodName(Method method);
std::optional<Method> parseMethod(std::string_view name);

/// Which weights a scheme keeps apart from its sign planes (dense + sparse
/// R2Q, docs/format.md). Real LLM weights hold rare large values (a "super
/// weight" of 6 in a row whose spread is 0.2) that R2Q's mean-magnitude
/// scales cannot reach; losing them loses the model.
struct OutlierPolicy {
  /// Keep this fraction of the matrix's weights, the largest magnitudes
  /// first (0: none).
  double fraction = 0;
  /// Also keep every weight larger than this many times the RMS magnitude of
  /// its group (0: none).
  double threshold = 0;
  /// Element type of the stored corrections (f16 or f32).
  FloatType valueType = FloatType::F16;

  bool enabled() const { return fraction > 0 || threshold > 0; }
};

/// A quantization scheme: what `r2q.quantize` is parameterized by.
struct Scheme {
  /// Consecutive weights along K (the input dimension) that share scales.
  int64_t groupSize = 128;
  /// Number of sign bitplanes, 1 to kMaxPlanes.
  int planes = 2;
  Method method = Method::Greedy;
  FloatType scaleType = FloatType::F16;
  OutlierPolicy outliers = {};
};

/// Bytes holding one row of `cols` sign bits.
constexpr int64_t packedBytesPerRow(int64_t cols) { return (cols + 7) / 8; }

/// Groups in a row of `cols` weights: ceil(cols / groupSize). When the group
/// size does not divide `cols`, the last group is shorter and holds the
/// remaining cols - groupSize * floor(cols / groupSize) weights.
constexpr int64_t groupsPerRow(int64_t cols, int64_t groupSize) {
  return (cols + groupSize - 1) / groupSize;
}

/// Weights in group `group` of a row of `cols` weights: groupSize, or fewer
/// for a shorter last group.
constexpr int64_t groupLength(int64_t cols, int64_t groupSize, int64_t group) {
  int64_t rest = cols - group * groupSize;
  return rest < groupSize ? rest : groupSize;
}

/// Bits stored per weight by `scheme` when the group size divides K: one per
/// plane plus the scales' share.
double bitsPerWeight(const Scheme &scheme);

/// Bits stored per weight of a matrix with `cols` columns, counting the sign
/// bytes' padding and a shorter last group's full set of scales.
double bitsPerWeight(const Scheme &scheme, int64_t cols);

/// The outcome of an operation that can reject its input. Carries a message
/// meant for a user ("weight at row 3, column 17 is NaN").
class [[nodiscard]] Status {
public:
  static Status success() { return Status(); }
  static Status failure(std::string message) {
    Status status;
    status.message_ = std::move(message);
    status.failed_ = true;
    return status;
  }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string &message() const { return message_; }

private:
  Status() = default;
  std::string message_;
  bool failed_ = false;
};

/// Checks that `scheme` can quantize a matrix with `cols` columns: plane count
/// in range, group size positive, at least one column. The group size need
/// not divide `cols` (the last group is then shorter).
Status verifyScheme(const Scheme &scheme, int64_t cols);

} // namespace r2q::quant

#endif // R2Q_QUANT_SCHEME_H
