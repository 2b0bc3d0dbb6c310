//===- FloatFormats.h - f32 / f16 / bf16 conversions ------------*- C++ -*-===//
//
// The numerics core stores scales and reads weights in three float formats.
// Conversions round to nearest, ties to even, like LLVM's APFloat and every
// hardware converter; NaN stays NaN and overflow becomes infinity.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_FLOATFORMATS_H
#define R2Q_QUANT_FLOATFORMATS_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace r2q::quant {

/// The float formats of weights and scales.
enum class FloatType { F32, F16, BF16 };

/// Size in bytes of one element of `type`.
constexpr std::size_t byteWidth(FloatType type) {
  return type == FloatType::F32 ? 4 : 2;
}

/// The largest finite value of `type`.
double largestFinite(FloatType type);

/// "f32", "f16" or "bf16".
std::string_view floatTypeName(FloatType type);
std::optional<FloatType> parseFloatType(std::string_view name);

uint16_t floatToHalfBits(float value);
float halfBitsToFloat(uint16_t bits);
uint16_t floatToBFloat16Bits(float value);
float bfloat16BitsToFloat(uint16_t bits);

/// Rounds `value` to the nearest value representable in `type`.
float roundTo(FloatType type, float value);

/// Reads element `index` of a little-endian array of `type` as a float.
float loadAsFloat(const void *data, FloatType type, std::size_t index);

/// Writes `value`, rounded to `type`, as element `index` of an array of `type`.
void storeFromFloat(void *data, FloatType type, std::size_t index, float value);

} // namespace r2q::quant

#endif // R2Q_QUANT_FLOATFORMATS_H
