//===- PackingTest.cpp - Sign packing, scale encoding, PackedWeight -------===//

#include "r2q/Quant/InterleavedWeight.h"
#include "r2q/Quant/PackedWeight.h"
#include "r2q/Quant/R2Q.h"

#include "RandomWeights.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

using namespace r2q::quant;
using namespace r2q::test;

namespace {

TEST(PackingTest, BytesPerRowIsCeilingOfBitsOverEight) {
  EXPECT_EQ(packedBytesPerRow(0), 0);
  EXPECT_EQ(packedBytesPerRow(1), 1);
  EXPECT_EQ(packedBytesPerRow(8), 1);
  EXPECT_EQ(packedBytesPerRow(9), 2);
  EXPECT_EQ(packedBytesPerRow(4096), 512);
  EXPECT_EQ(packedBytesPerRow(4097), 513);
}

TEST(PackingTest, PackThenUnpackIsIdentityForManyLengths) {
  for (int64_t count = 0; count <= 200; ++count) {
    std::vector<uint8_t> flags = randomFlags(count, 600 + count);
    // Poison the output so that a byte the packer forgets to write shows.
    std::vector<uint8_t> bits(packedBytesPerRow(count) + 1, 0xa5);
    packSigns(flags.data(), count, bits.data());
    EXPECT_EQ(bits.back(), 0xa5) << "wrote past the end, count " << count;
    std::vector<uint8_t> back(count, 9);
    unpackSigns(bits.data(), count, back.data());
    ASSERT_EQ(back, flags) << "count " << count;
  }
}

TEST(PackingTest, BitJOfByteBIsColumn8BPlusJAndPaddingIsZero) {
  for (int64_t count : {1, 5, 8, 13, 16, 63, 100}) {
    std::vector<uint8_t> flags = randomFlags(count, 700 + count);
    std::vector<uint8_t> bits(packedBytesPerRow(count), 0xff);
    packSigns(flags.data(), count, bits.data());
    for (int64_t b = 0; b < packedBytesPerRow(count); ++b) {
      for (int j = 0; j < 8; ++j) {
        int bit = bits[b] >> j & 1;
        int64_t col = 8 * b + j;
        if (col < count) {
          EXPECT_EQ(bit, flags[col]) << "count " << count << " col " << col;
        } else {
          EXPECT_EQ(bit, 0) << "padding bit " << col << " count " << count;
        }
      }
    }
  }
  // A single negative in column 10 is bit 2 of byte 1.
  std::vector<uint8_t> flags(12, 0);
  flags[10] = 1;
  uint8_t bits[2] = {0xff, 0xff};
  packSigns(flags.data(), 12, bits);
  EXPECT_EQ(bits[0], 0x00);
  EXPECT_EQ(bits[1], 0x04);
}

TEST(PackingTest, AnyNonzeroFlagPacksAsNegative) {
  std::vector<uint8_t> flags = {0, 2, 0, 255, 1, 0, 0, 128, 7};
  std::vector<uint8_t> bits(2);
  packSigns(flags.data(), 9, bits.data());
  EXPECT_EQ(bits[0], 0x9a); // columns 1, 3, 4, 7
  EXPECT_EQ(bits[1], 0x01);
  std::vector<uint8_t> back(9);
  unpackSigns(bits.data(), 9, back.data());
  EXPECT_EQ(back, (std::vector<uint8_t>{0, 1, 0, 1, 1, 0, 0, 1, 1}));
}

TEST(PackingTest, EncodeDecodeScalesRoundTripsRepresentableValues) {
  for (FloatType type : {FloatType::F32, FloatType::F16, FloatType::BF16}) {
    std::vector<float> values =
        randomWeights(Distribution::Laplace, 333, 800 + static_cast<int>(type));
    for (float &value : values)
      value = roundTo(type, std::fabs(value));
    values.push_back(0.f);
    values.push_back(static_cast<float>(largestFinite(type)));
    std::vector<uint8_t> bytes = encodeScales(values, type);
    ASSERT_EQ(bytes.size(), values.size() * byteWidth(type));
    EXPECT_EQ(decodeScales(bytes, type), values) << floatTypeName(type);
  }
}

TEST(PackingTest, EncodeScalesRoundsToNearestEvenLittleEndian) {
  std::vector<float> values = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65520.f,
                               0.5f};
  std::vector<uint8_t> half = encodeScales(values, FloatType::F16);
  EXPECT_EQ(half, (std::vector<uint8_t>{0x00, 0x3c, 0x02, 0x3c, 0x00, 0x7c,
                                        0x00, 0x38}));
  std::vector<float> decoded = decodeScales(half, FloatType::F16);
  EXPECT_EQ(decoded[0], 1.0f);
  EXPECT_TRUE(std::isinf(decoded[2]));
  std::vector<uint8_t> brain = encodeScales(values, FloatType::BF16);
  EXPECT_EQ(brain[0], 0x80);
  EXPECT_EQ(brain[1], 0x3f);
  std::vector<uint8_t> single = encodeScales(values, FloatType::F32);
  float first;
  std::memcpy(&first, single.data(), 4);
  EXPECT_EQ(first, values[0]);
}

TEST(PackingTest, ZerosHasTheDocumentedShape) {
  Scheme scheme{12, 3, Method::Greedy, FloatType::BF16};
  PackedWeight weight = PackedWeight::zeros(5, 36, scheme);
  EXPECT_EQ(weight.rows, 5);
  EXPECT_EQ(weight.cols, 36);
  EXPECT_EQ(weight.bytesPerRow(), 5);
  EXPECT_EQ(weight.groupsPerRow(), 3);
  EXPECT_EQ(weight.signs.size(), 3u * 5 * 5);
  EXPECT_EQ(weight.scales.size(), 3u * 5 * 3);
  EXPECT_EQ(weight.storageBytes(), 3 * 5 * 5 + 3 * 5 * 3 * 2);
  for (int64_t r = 0; r < 5; ++r)
    for (int64_t c = 0; c < 36; ++c)
      EXPECT_EQ(weight.value(r, c), 0.f);
  // Rows and planes are laid out plane-major.
  EXPECT_EQ(weight.signRow(2, 4) - weight.signs.data(), (2 * 5 + 4) * 5);
  EXPECT_EQ(weight.scaleRow(1, 3) - weight.scales.data(), (1 * 5 + 3) * 3);
}

TEST(PackingTest, ValueDecodesSignsAndScalesByDefinition) {
  const int64_t rows = 3, cols = 20, groupSize = 5;
  Scheme scheme{groupSize, 2, Method::Greedy, FloatType::F32};
  PackedWeight weight = PackedWeight::zeros(rows, cols, scheme);
  std::vector<uint8_t> flags = randomFlags(2 * rows * cols, 900);
  std::vector<float> scales =
      randomWeights(Distribution::Uniform, weight.scales.size(), 901);
  for (float &scale : scales)
    scale = std::fabs(scale);
  weight.scales = scales;
  for (int p = 0; p < 2; ++p)
    for (int64_t r = 0; r < rows; ++r)
      packSigns(&flags[(p * rows + r) * cols], cols, weight.signRow(p, r));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float expected = 0;
      for (int p = 0; p < 2; ++p) {
        float scale =
            scales[(p * rows + r) * (cols / groupSize) + c / groupSize];
        bool negative = flags[(p * rows + r) * cols + c];
        EXPECT_EQ(weight.isNegative(p, r, c), negative);
        expected += negative ? -scale : scale;
      }
      EXPECT_EQ(weight.value(r, c), expected) << r << "," << c;
    }
  }
}

TEST(PackingTest, FromEncodedRoundTripsAQuantizedWeight) {
  const int64_t rows = 7, cols = 48;
  std::vector<float> w = gaussianWeights(rows * cols, 902);
  Scheme scheme{16, 2, Method::Greedy, FloatType::F16};
  PackedWeight packed;
  ASSERT_TRUE(
      quantize(MatrixView::ofFloats(w.data(), rows, cols), scheme, packed)
          .ok());
  PackedWeight rebuilt;
  Status status = PackedWeight::fromEncoded(rows, cols, scheme, packed.signs,
                                            packed.encodedScales(), rebuilt);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(rebuilt.signs, packed.signs);
  EXPECT_EQ(rebuilt.scales, packed.scales);
  EXPECT_EQ(rebuilt.groupSize, 16);
  EXPECT_EQ(rebuilt.planes, 2);
  EXPECT_EQ(rebuilt.scaleType, FloatType::F16);
  EXPECT_EQ(rebuilt.storageBytes(), packed.storageBytes());
}

TEST(PackingTest, FromEncodedRejectsBadSizesAndScales) {
  const int64_t rows = 2, cols = 16;
  Scheme scheme{8, 2, Method::Greedy, FloatType::F16};
  std::vector<uint8_t> signs(2 * rows * 2, 0x5a);
  std::vector<float> scaleValues = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<uint8_t> scales = encodeScales(scaleValues, FloatType::F16);
  PackedWeight result;
  result.rows = 99; // must stay untouched on failure
  ASSERT_TRUE(
      PackedWeight::fromEncoded(rows, cols, scheme, signs, scales, result)
          .ok());
  EXPECT_EQ(result.scales, scaleValues);
  result.rows = 99;

  std::vector<uint8_t> shortSigns(signs.begin(), signs.end() - 1);
  Status status =
      PackedWeight::fromEncoded(rows, cols, scheme, shortSigns, scales, result);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("sign bytes"), std::string::npos)
      << status.message();
  std::vector<uint8_t> longScales = scales;
  longScales.push_back(0);
  longScales.push_back(0);
  status =
      PackedWeight::fromEncoded(rows, cols, scheme, signs, longScales, result);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("scale bytes"), std::string::npos)
      << status.message();
  for (float bad : {-1.f, NAN, INFINITY}) {
    std::vector<float> badValues = scaleValues;
    badValues[5] = bad;
    status = PackedWeight::fromEncoded(rows, cols, scheme, signs,
                                       encodeScales(badValues, FloatType::F16),
                                       result);
    EXPECT_FALSE(status.ok()) << bad;
    EXPECT_NE(status.message().find("scale 5"), std::string::npos)
        << status.message();
  }
  // G = 5: ceil(16/5) = 4 groups per row, so 16 scales, not 8.
  Scheme ragged{5, 2, Method::Greedy, FloatType::F16};
  status = PackedWeight::fromEncoded(rows, cols, ragged, signs, scales, result);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("expected 32 scale bytes"), std::string::npos)
      << status.message();
  EXPECT_EQ(result.rows, 99);
}

TEST(PackingTest, BitsPerWeightAndStorageBytesAgree) {
  Scheme scheme{128, 2, Method::Greedy, FloatType::F16};
  EXPECT_DOUBLE_EQ(bitsPerWeight(scheme), 2.25);
  EXPECT_DOUBLE_EQ(bitsPerWeight({256, 2, Method::Greedy, FloatType::F16}),
                   2.125);
  EXPECT_DOUBLE_EQ(bitsPerWeight({128, 2, Method::Refined, FloatType::F32}),
                   2.5);
  EXPECT_DOUBLE_EQ(bitsPerWeight({128, 1, Method::Greedy, FloatType::BF16}),
                   1.125);
  EXPECT_DOUBLE_EQ(bitsPerWeight({4096, 2, Method::Greedy, FloatType::F16}),
                   2.0 + 2 * 16.0 / 4096);
  // Storage of a real quantized matrix matches the formula.
  for (Scheme s : {scheme, Scheme{64, 3, Method::Greedy, FloatType::F32},
                   Scheme{256, 1, Method::Greedy, FloatType::BF16}}) {
    const int64_t rows = 12, cols = 512;
    std::vector<float> w = gaussianWeights(rows * cols, 903 + s.planes);
    PackedWeight packed;
    ASSERT_TRUE(
        quantize(MatrixView::ofFloats(w.data(), rows, cols), s, packed).ok());
    EXPECT_EQ(packed.storageBytes() * 8,
              static_cast<int64_t>(bitsPerWeight(s) * rows * cols));
    EXPECT_EQ(static_cast<int64_t>(packed.encodedScales().size()),
              s.planes * rows * (cols / s.groupSize) *
                  static_cast<int64_t>(byteWidth(s.scaleType)));
  }
}

// lut_gemv's row-interleaved layout (docs/format.md): every position of the
// result, read back by its definition, holds the canonical byte or, past N
// or ceil(K/8), zero; ragged N and K, 1 to 3 planes.
TEST(PackingTest, InterleavedSignsFollowTheirDefinition) {
  struct Shape {
    int planes;
    int64_t rows, cols;
  };
  for (Shape shape :
       {Shape{1, 16, 512}, Shape{2, 37, 1000}, Shape{3, 5, 13},
        Shape{2, 33, 4104}, Shape{1, 20, 9000}, Shape{2, 17, 8192}}) {
    int64_t bytesPerRow = packedBytesPerRow(shape.cols);
    int64_t count = shape.planes * shape.rows * bytesPerRow;
    std::vector<uint8_t> signs(count);
    for (int64_t i = 0; i < count; ++i)
      signs[i] = static_cast<uint8_t>(1 + (i * 37 + i / 251) % 255);
    std::vector<uint8_t> interleaved =
        interleaveSignRows(signs, shape.planes, shape.rows, shape.cols);
    int64_t blocks = (shape.rows + 15) / 16;
    int64_t steps = (bytesPerRow + 63) / 64;
    ASSERT_EQ(interleavedBlocks(shape.rows), blocks);
    ASSERT_EQ(interleavedBlockBytes(shape.cols), steps * 1024);
    ASSERT_EQ(static_cast<int64_t>(interleaved.size()),
              shape.planes * blocks * steps * 1024);
    // Positions in storage order: plane, pass of 4 steps, block, step of
    // the pass, byte b of a lane, lane, row of the block.
    size_t position = 0;
    for (int p = 0; p < shape.planes; ++p)
      for (int64_t pass = 0; pass * 4 < steps; ++pass)
        for (int64_t blk = 0; blk < blocks; ++blk)
          for (int64_t s = 4 * pass; s < std::min(steps, 4 * pass + 4); ++s)
            for (int64_t b = 0; b < 16; ++b)
              for (int64_t lane = 0; lane < 4; ++lane)
                for (int64_t j = 0; j < 16; ++j, ++position) {
                  int64_t row = 16 * blk + j, byte = 64 * s + 16 * lane + b;
                  uint8_t expected =
                      row < shape.rows && byte < bytesPerRow
                          ? signs[(p * shape.rows + row) * bytesPerRow + byte]
                          : 0;
                  ASSERT_EQ(interleaved[position], expected)
                      << "plane " << p << ", row " << row << ", byte " << byte;
                }
    ASSERT_EQ(position, interleaved.size());
  }
}

// The scales in the row-interleaved layout: in storage order, plane, pass
// of max(1, 2048 / G) groups, block, group of the pass, row of the block;
// ragged N and group counts, groups smaller and larger than a pass.
TEST(PackingTest, InterleavedScalesFollowTheirDefinition) {
  struct Shape {
    int planes;
    int64_t rows, groups, groupSize;
  };
  for (Shape shape :
       {Shape{1, 16, 4, 128}, Shape{2, 37, 112, 128}, Shape{3, 5, 3, 512},
        Shape{2, 33, 5, 8192}, Shape{1, 20, 9, 1536}, Shape{2, 18, 7, 768}}) {
    const int64_t elementBytes = 2;
    int64_t count = shape.planes * shape.rows * shape.groups;
    std::vector<uint8_t> scales(count * elementBytes);
    for (int64_t i = 0; i < count; ++i) {
      uint16_t value = static_cast<uint16_t>(1 + i * 7919 % 65535);
      std::memcpy(scales.data() + i * elementBytes, &value, elementBytes);
    }
    std::vector<uint8_t> interleaved =
        interleaveScaleRows(scales, elementBytes, shape.planes, shape.rows,
                            shape.groups, shape.groupSize);
    int64_t blocks = (shape.rows + 15) / 16;
    int64_t perPass = std::max<int64_t>(1, 2048 / shape.groupSize);
    ASSERT_EQ(interleavedPassGroups(shape.groupSize), perPass);
    ASSERT_EQ(static_cast<int64_t>(interleaved.size()),
              shape.planes * blocks * 16 * shape.groups * elementBytes);
    int64_t position = 0;
    for (int p = 0; p < shape.planes; ++p)
      for (int64_t pass = 0; pass * perPass < shape.groups; ++pass)
        for (int64_t blk = 0; blk < blocks; ++blk)
          for (int64_t g = pass * perPass;
               g < std::min(shape.groups, (pass + 1) * perPass); ++g)
            for (int64_t j = 0; j < 16; ++j, position += elementBytes) {
              int64_t row = 16 * blk + j;
              uint16_t expected = 0, actual;
              if (row < shape.rows)
                std::memcpy(&expected,
                            scales.data() +
                                ((p * shape.rows + row) * shape.groups + g) *
                                    elementBytes,
                            elementBytes);
              std::memcpy(&actual, interleaved.data() + position, elementBytes);
              ASSERT_EQ(actual, expected)
                  << "plane " << p << ", row " << row << ", group " << g;
            }
    ASSERT_EQ(position, static_cast<int64_t>(interleaved.size()));
  }
}

} // namespace
