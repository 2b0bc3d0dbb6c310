//===- FloatFormats.cpp - f32 / f16 / bf16 conversions --------------------===//

#include "r2q/Quant/FloatFormats.h"

#include <bit>
#include <cstring>
#include <limits>

namespace r2q::quant {

double largestFinite(FloatType type) {
  switch (type) {
  case FloatType::F32:
    return std::numeric_limits<float>::max();
  case FloatType::F16:
    return 65504.0;
  case FloatType::BF16:
    return bfloat16BitsToFloat(0x7f7f);
  }
  return 0;
}

std::string_view floatTypeName(FloatType type) {
  switch (type) {
  case FloatType::F32:
    return "f32";
  case FloatType::F16:
    return "f16";
  case FloatType::BF16:
    return "bf16";
  }
  return "?";
}

std::optional<FloatType> parseFloatType(std::string_view name) {
  for (FloatType type : {FloatType::F32, FloatType::F16, FloatType::BF16})
    if (floatTypeName(type) == name)
      return type;
  return std::nullopt;
}

// Round to nearest even, after F. Giesen's float_to_half_fast3_rtne.
uint16_t floatToHalfBits(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  uint32_t magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) // NaN: keep it quiet and keep top payload bits.
    return sign | 0x7e00 | ((magnitude >> 13) & 0x3ff);
  if (magnitude >= 0x477ff000) // >= 65520 rounds to infinity.
    return sign | 0x7c00;
  if (magnitude < 0x38800000) { // Below 2^-14: f16 subnormal or zero.
    // Adding 0.5 aligns the f16 subnormal ulp (2^-24) with the f32 ulp of
    // 0.5, so the float addition performs the rounding.
    float shifted = std::bit_cast<float>(magnitude) + 0.5f;
    return sign | static_cast<uint16_t>(std::bit_cast<uint32_t>(shifted) -
                                        0x3f000000u);
  }
  uint32_t mantissaOdd = (magnitude >> 13) & 1;
  magnitude += (static_cast<uint32_t>(15 - 127) << 23) + 0xfff + mantissaOdd;
  return sign | static_cast<uint16_t>(magnitude >> 13);
}

float halfBitsToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0x1f) // Infinity or NaN.
    return std::bit_cast<float>(sign | 0x7f800000 | (mantissa << 13));
  if (exponent == 0) { // Zero or subnormal: mantissa * 2^-24, exact in f32.
    float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(magnitude));
  }
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) |
                              (mantissa << 13));
}

uint16_t floatToBFloat16Bits(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffff) > 0x7f800000) // NaN: keep it quiet.
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t roundingBias = 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + roundingBias) >> 16);
}

float bfloat16BitsToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

float roundTo(FloatType type, float value) {
  switch (type) {
  case FloatType::F32:
    return value;
  case FloatType::F16:
    return halfBitsToFloat(floatToHalfBits(value));
  case FloatType::BF16:
    return bfloat16BitsToFloat(floatToBFloat16Bits(value));
  }
  return value;
}

float loadAsFloat(const void *data, FloatType type, std::size_t index) {
  const auto *bytes = static_cast<const unsigned char *>(data);
  if (type == FloatType::F32) {
    float value;
    std::memcpy(&value, bytes + 4 * index, 4);
    return value;
  }
  uint16_t bits;
  std::memcpy(&bits, bytes + 2 * index, 2);
  return type == FloatType::F16 ? halfBitsToFloat(bits)
                                : bfloat16BitsToFloat(bits);
}

void storeFromFloat(void *data, FloatType type, std::size_t index,
                    float value) {
  auto *bytes = static_cast<unsigned char *>(data);
  if (type == FloatType::F32) {
    std::memcpy(bytes + 4 * index, &value, 4);
    return;
  }
  uint16_t bits = type == FloatType::F16 ? floatToHalfBits(value)
                                         : floatToBFloat16Bits(value);
  std::memcpy(bytes + 2 * index, &bits, 2);
}

} // namespace r2q::quant
