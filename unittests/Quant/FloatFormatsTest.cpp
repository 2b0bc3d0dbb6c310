//===- FloatFormatsTest.cpp - f32 / f16 / bf16 conversions ----------------===//

#include "r2q/Quant/FloatFormats.h"

#include "RandomWeights.h"

#include "gtest/gtest.h"

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

using namespace r2q::quant;
using r2q::test::Rng;

namespace {

uint32_t bitsOf(float value) { return std::bit_cast<uint32_t>(value); }
float floatOf(uint32_t bits) { return std::bit_cast<float>(bits); }

/// Round-to-nearest-even of a finite float into a binary format with
/// `precision` significant bits, subnormal spacing `minUlp` and largest
/// finite value `maxFinite`; computed in double with frexp/nearbyint, an
/// implementation independent of the bit tricks in the core.
float referenceRound(float value, int precision, double minUlp,
                     double maxFinite) {
  if (value == 0 || std::isinf(value))
    return value;
  int exponent;
  std::frexp(static_cast<double>(value), &exponent);
  double ulp = std::max(std::ldexp(1.0, exponent - precision), minUlp);
  double rounded = std::nearbyint(value / ulp) * ulp;
  if (std::fabs(rounded) > maxFinite)
    return value < 0 ? -std::numeric_limits<float>::infinity()
                     : std::numeric_limits<float>::infinity();
  if (rounded == 0)
    return value < 0 ? -0.f : 0.f;
  return static_cast<float>(rounded);
}

float referenceHalf(float value) {
  return referenceRound(value, 11, 0x1p-24, 65504.0);
}
float referenceBFloat16(float value) {
  return referenceRound(value, 8, 0x1p-133,
                        static_cast<double>(floatOf(0x7f7f0000u)));
}

/// Random float bit patterns concentrated where rounding is interesting:
/// exponents in [minExp, maxExp] (biased f32 exponents), with the bits below
/// the kept mantissa often forced to a tie or just around it.
uint32_t interestingBits(Rng &rng, int minExp, int maxExp, int droppedBits) {
  uint32_t sign = static_cast<uint32_t>(rng.next() >> 63) << 31;
  uint32_t exponent =
      static_cast<uint32_t>(minExp + rng.next() % (maxExp - minExp + 1));
  uint32_t mantissa = rng.next32() & 0x7fffff;
  uint32_t half = 1u << (droppedBits - 1);
  uint32_t low = (1u << droppedBits) - 1;
  switch (rng.next() % 5) {
  case 0:
    mantissa = (mantissa & ~low) | half; // exact tie
    break;
  case 1:
    mantissa = (mantissa & ~low) | (half - 1); // just below a tie
    break;
  case 2:
    mantissa = (mantissa & ~low) | (half + 1); // just above a tie
    break;
  default:
    break;
  }
  return sign | (exponent << 23) | mantissa;
}

TEST(FloatFormatsTest, HalfToFloatMatchesDefinitionForAllBitPatterns) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    uint32_t exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
    double magnitude;
    if (exponent == 0x1f) {
      float value = halfBitsToFloat(static_cast<uint16_t>(bits));
      if (mantissa == 0) {
        EXPECT_TRUE(std::isinf(value)) << bits;
      } else {
        EXPECT_TRUE(std::isnan(value)) << bits;
      }
      EXPECT_EQ(std::signbit(value), (bits & 0x8000) != 0) << bits;
      continue;
    }
    if (exponent == 0)
      magnitude = std::ldexp(static_cast<double>(mantissa), -24);
    else
      magnitude =
          std::ldexp(1.0 + mantissa / 1024.0, static_cast<int>(exponent) - 15);
    double expected = (bits & 0x8000) ? -magnitude : magnitude;
    float value = halfBitsToFloat(static_cast<uint16_t>(bits));
    ASSERT_EQ(static_cast<double>(value), expected) << "bits " << bits;
    ASSERT_EQ(std::signbit(value), (bits & 0x8000) != 0) << "bits " << bits;
  }
}

TEST(FloatFormatsTest, HalfRoundTripIsIdentityForAllNonNaNBitPatterns) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    auto half = static_cast<uint16_t>(bits);
    bool isNaN = (bits & 0x7c00) == 0x7c00 && (bits & 0x3ff) != 0;
    uint16_t back = floatToHalfBits(halfBitsToFloat(half));
    if (isNaN) {
      // NaN payloads may be quieted, but a NaN stays a NaN of the same sign.
      EXPECT_EQ(back & 0x7c00, 0x7c00) << bits;
      EXPECT_NE(back & 0x3ff, 0) << bits;
      EXPECT_EQ(back & 0x8000, bits & 0x8000) << bits;
    } else {
      ASSERT_EQ(back, half) << "bits " << bits;
    }
  }
}

TEST(FloatFormatsTest, BFloat16RoundTripIsIdentityForAllNonNaNBitPatterns) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    auto b = static_cast<uint16_t>(bits);
    float value = bfloat16BitsToFloat(b);
    ASSERT_EQ(bitsOf(value), bits << 16);
    bool isNaN = (bits & 0x7f80) == 0x7f80 && (bits & 0x7f) != 0;
    uint16_t back = floatToBFloat16Bits(value);
    if (isNaN) {
      EXPECT_TRUE(std::isnan(bfloat16BitsToFloat(back))) << bits;
    } else {
      ASSERT_EQ(back, b) << "bits " << bits;
    }
  }
}

TEST(FloatFormatsTest, FloatToHalfMatchesIndependentRoundingReference) {
  Rng rng(101);
  // Biased exponents 97..144 cover f16 underflow, subnormals, normals and
  // overflow; 13 mantissa bits are dropped for normal f16 values.
  for (int i = 0; i < 300000; ++i) {
    float value = floatOf(interestingBits(rng, 97, 144, 13));
    float expected = referenceHalf(value);
    float actual = halfBitsToFloat(floatToHalfBits(value));
    ASSERT_EQ(bitsOf(actual), bitsOf(expected))
        << "input " << value << " (0x" << std::hex << bitsOf(value) << ")";
  }
}

#if defined(__FLT16_MAX__)
TEST(FloatFormatsTest, FloatToHalfMatchesCompilerFloat16Conversion) {
  Rng rng(102);
  for (int i = 0; i < 300000; ++i) {
    uint32_t bits =
        i % 4 == 0 ? rng.next32() : interestingBits(rng, 97, 144, 13);
    volatile float value = floatOf(bits);
    _Float16 converted = static_cast<_Float16>(value);
    uint16_t expected = std::bit_cast<uint16_t>(converted);
    uint16_t actual = floatToHalfBits(value);
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(halfBitsToFloat(actual))) << std::hex << bits;
      continue;
    }
    ASSERT_EQ(actual, expected) << "input 0x" << std::hex << bits;
  }
}
#endif

TEST(FloatFormatsTest, FloatToBFloat16MatchesIndependentRoundingReference) {
  Rng rng(103);
  // The whole f32 exponent range, including subnormals (exponent 0) and the
  // values that round up to infinity; 16 mantissa bits are dropped.
  for (int i = 0; i < 300000; ++i) {
    float value = floatOf(interestingBits(rng, 0, 254, 16));
    float expected = referenceBFloat16(value);
    float actual = bfloat16BitsToFloat(floatToBFloat16Bits(value));
    ASSERT_EQ(bitsOf(actual), bitsOf(expected))
        << "input " << value << " (0x" << std::hex << bitsOf(value) << ")";
  }
}

TEST(FloatFormatsTest, HalfKnownValuesTiesAndOverflow) {
  EXPECT_EQ(floatToHalfBits(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalfBits(-2.0f), 0xc000);
  EXPECT_EQ(floatToHalfBits(0.0f), 0x0000);
  EXPECT_EQ(floatToHalfBits(-0.0f), 0x8000);
  EXPECT_EQ(floatToHalfBits(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalfBits(65519.99f), 0x7bff);
  EXPECT_EQ(halfBitsToFloat(floatToHalfBits(65519.99f)), 65504.0f);
  EXPECT_EQ(floatToHalfBits(65520.0f), 0x7c00);
  EXPECT_TRUE(std::isinf(halfBitsToFloat(floatToHalfBits(65520.0f))));
  EXPECT_EQ(floatToHalfBits(-65520.0f), 0xfc00);
  EXPECT_EQ(floatToHalfBits(1e10f), 0x7c00);
  EXPECT_EQ(floatToHalfBits(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(floatToHalfBits(-std::numeric_limits<float>::infinity()), 0xfc00);
  // Ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(floatToHalfBits(1.0f + 0x1p-11f), 0x3c00);
  EXPECT_EQ(floatToHalfBits(1.0f + 3 * 0x1p-11f), 0x3c02);
  EXPECT_EQ(floatToHalfBits(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  // Subnormals: smallest is 2^-24; 2^-25 ties to 0, 3*2^-25 ties to 2*2^-24.
  EXPECT_EQ(floatToHalfBits(0x1p-24f), 0x0001);
  EXPECT_EQ(floatToHalfBits(0x1p-25f), 0x0000);
  EXPECT_EQ(floatToHalfBits(3 * 0x1p-25f), 0x0002);
  EXPECT_EQ(floatToHalfBits(0x1p-25f + 0x1p-40f), 0x0001);
  EXPECT_EQ(floatToHalfBits(-0x1p-26f), 0x8000);
  EXPECT_EQ(floatToHalfBits(0x1p-14f), 0x0400);            // smallest normal
  EXPECT_EQ(floatToHalfBits(0x1p-14f - 0x1p-25f), 0x0400); // rounds up
}

TEST(FloatFormatsTest, NaNStaysNaN) {
  const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0x7fa00000u, 0xffc00000u,
                           0xff800001u, 0x7fffffffu, 0x7f801000u};
  for (uint32_t bits : nans) {
    float nan = floatOf(bits);
    uint16_t half = floatToHalfBits(nan);
    EXPECT_TRUE(std::isnan(halfBitsToFloat(half))) << std::hex << bits;
    EXPECT_EQ(half >> 15, bits >> 31) << std::hex << bits;
    uint16_t brain = floatToBFloat16Bits(nan);
    EXPECT_TRUE(std::isnan(bfloat16BitsToFloat(brain))) << std::hex << bits;
    EXPECT_EQ(brain >> 15, bits >> 31) << std::hex << bits;
    EXPECT_TRUE(std::isnan(roundTo(FloatType::F16, nan)));
    EXPECT_TRUE(std::isnan(roundTo(FloatType::BF16, nan)));
    EXPECT_TRUE(std::isnan(roundTo(FloatType::F32, nan)));
  }
}

TEST(FloatFormatsTest, BFloat16KnownValuesTiesAndOverflow) {
  EXPECT_EQ(floatToBFloat16Bits(1.0f), 0x3f80);
  EXPECT_EQ(floatToBFloat16Bits(-1.0f), 0xbf80);
  EXPECT_EQ(floatToBFloat16Bits(-0.0f), 0x8000);
  // Ties to even.
  EXPECT_EQ(floatToBFloat16Bits(floatOf(0x3f808000u)), 0x3f80);
  EXPECT_EQ(floatToBFloat16Bits(floatOf(0x3f818000u)), 0x3f82);
  EXPECT_EQ(floatToBFloat16Bits(floatOf(0x3f808001u)), 0x3f81);
  EXPECT_EQ(floatToBFloat16Bits(floatOf(0x3f807fffu)), 0x3f80);
  // pi = 0x40490fdb -> 0x4049 (3.140625).
  EXPECT_EQ(floatToBFloat16Bits(3.14159265f), 0x4049);
  // Largest finite stays; FLT_MAX rounds to infinity.
  EXPECT_EQ(floatToBFloat16Bits(floatOf(0x7f7f7fffu)), 0x7f7f);
  EXPECT_EQ(floatToBFloat16Bits(FLT_MAX), 0x7f80);
  EXPECT_EQ(floatToBFloat16Bits(-FLT_MAX), 0xff80);
  EXPECT_EQ(floatToBFloat16Bits(std::numeric_limits<float>::infinity()),
            0x7f80);
  // Subnormal tie to even.
  EXPECT_EQ(floatToBFloat16Bits(floatOf(0x00008000u)), 0x0000);
  EXPECT_EQ(floatToBFloat16Bits(floatOf(0x00018000u)), 0x0002);
}

TEST(FloatFormatsTest, RoundToAgreesWithBitConversions) {
  std::vector<float> values = r2q::test::gaussianWeights(4096, 104, 100.0);
  for (float value : values) {
    EXPECT_EQ(bitsOf(roundTo(FloatType::F32, value)), bitsOf(value));
    EXPECT_EQ(bitsOf(roundTo(FloatType::F16, value)),
              bitsOf(halfBitsToFloat(floatToHalfBits(value))));
    EXPECT_EQ(bitsOf(roundTo(FloatType::BF16, value)),
              bitsOf(bfloat16BitsToFloat(floatToBFloat16Bits(value))));
    // Rounding is idempotent and lands within half an ulp.
    for (FloatType type : {FloatType::F16, FloatType::BF16}) {
      float rounded = roundTo(type, value);
      EXPECT_EQ(roundTo(type, rounded), rounded);
      double relative = type == FloatType::F16 ? 0x1p-11 : 0x1p-8;
      if (std::fabs(value) > 1e-4 && std::fabs(value) < 6e4) {
        EXPECT_LE(std::fabs(rounded - value), relative * std::fabs(value));
      }
    }
  }
}

TEST(FloatFormatsTest, LoadAndStoreAreLittleEndianAndRound) {
  unsigned char buffer[16] = {};
  storeFromFloat(buffer, FloatType::F16, 1, 1.0f);
  EXPECT_EQ(buffer[2], 0x00);
  EXPECT_EQ(buffer[3], 0x3c);
  EXPECT_EQ(buffer[0], 0x00);
  storeFromFloat(buffer, FloatType::BF16, 2, -2.0f);
  EXPECT_EQ(buffer[4], 0x00);
  EXPECT_EQ(buffer[5], 0xc0);
  storeFromFloat(buffer, FloatType::F32, 2, 1.5f);
  uint32_t raw;
  std::memcpy(&raw, buffer + 8, 4);
  EXPECT_EQ(raw, 0x3fc00000u);
  EXPECT_EQ(loadAsFloat(buffer, FloatType::F32, 2), 1.5f);

  std::vector<float> values = r2q::test::gaussianWeights(257, 105, 3.0);
  for (FloatType type : {FloatType::F32, FloatType::F16, FloatType::BF16}) {
    std::vector<unsigned char> bytes(values.size() * byteWidth(type));
    for (std::size_t i = 0; i < values.size(); ++i)
      storeFromFloat(bytes.data(), type, i, values[i]);
    for (std::size_t i = 0; i < values.size(); ++i)
      EXPECT_EQ(loadAsFloat(bytes.data(), type, i), roundTo(type, values[i]))
          << floatTypeName(type) << " " << i;
  }
}

TEST(FloatFormatsTest, NamesWidthsAndLargestFinite) {
  EXPECT_EQ(byteWidth(FloatType::F32), 4u);
  EXPECT_EQ(byteWidth(FloatType::F16), 2u);
  EXPECT_EQ(byteWidth(FloatType::BF16), 2u);
  EXPECT_EQ(largestFinite(FloatType::F16), 65504.0);
  EXPECT_EQ(largestFinite(FloatType::F32), static_cast<double>(FLT_MAX));
  EXPECT_EQ(largestFinite(FloatType::BF16), 0x1.fep127);
  for (FloatType type : {FloatType::F32, FloatType::F16, FloatType::BF16}) {
    EXPECT_EQ(parseFloatType(floatTypeName(type)), type);
    float largest = static_cast<float>(largestFinite(type));
    EXPECT_EQ(roundTo(type, largest), largest);
  }
  EXPECT_EQ(floatTypeName(FloatType::BF16), "bf16");
  EXPECT_FALSE(parseFloatType("f64").has_value());
  EXPECT_FALSE(parseFloatType("").has_value());
  EXPECT_FALSE(parseFloatType("F16").has_value());
}

} // namespace
