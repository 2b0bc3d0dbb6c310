//===- RaggedGroupsTest.cpp - Group sizes that do not divide K ------------===//
//
// When the group size G does not divide K, the last group of each row holds
// the remaining K - G*floor(K/G) columns and is quantized as a group of that
// size (docs/format.md). These tests check that against quantizing those
// columns on their own, the greedy energy identity per group, refinement,
// the packed layout and the storage count.
//
//===----------------------------------------------------------------------===//

#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/RoundToNearest.h"

#include "RandomWeights.h"

#include "gtest/gtest.h"

#include <string>
#include <vector>

using namespace r2q::quant;
using namespace r2q::test;

namespace {

struct RaggedShape {
  int64_t rows, cols, groupSize;
};

// K = 576 = 4.5 x 128 (SmolLM2-135M), K = 100 = 3 x 32 + 4, K = 13 = 8 + 5
// (not a multiple of 8), K < G (40 < 128, 50 < 64).
constexpr RaggedShape kShapes[] = {
    {3, 576, 128}, {5, 100, 32}, {4, 13, 8}, {2, 40, 128}, {6, 50, 64}};

std::string describe(const RaggedShape &shape, const Scheme &scheme) {
  return "N=" + std::to_string(shape.rows) +
         " K=" + std::to_string(shape.cols) +
         " G=" + std::to_string(shape.groupSize) +
         " P=" + std::to_string(scheme.planes) + " " +
         std::string(methodName(scheme.method));
}

/// Columns [first, first + count) of a rows x cols matrix.
std::vector<float> columnsOf(const std::vector<float> &w, int64_t rows,
                             int64_t cols, int64_t first, int64_t count) {
  std::vector<float> part(rows * count);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < count; ++c)
      part[r * count + c] = w[r * cols + first + c];
  return part;
}

PackedWeight quantizeOrFail(const std::vector<float> &w, int64_t rows,
                            int64_t cols, const Scheme &scheme) {
  PackedWeight packed;
  Status status =
      quantize(MatrixView::ofFloats(w.data(), rows, cols), scheme, packed);
  EXPECT_TRUE(status.ok()) << status.message();
  return packed;
}

/// Expects group `group` of `whole` to carry the code of group `partGroup`
/// of `part`, whose columns start at column `firstColumn` of `whole`.
void expectSameGroup(const PackedWeight &whole, int64_t group,
                     const PackedWeight &part, int64_t partGroup,
                     int64_t firstColumn, const std::string &what) {
  int64_t length = part.groupLength(partGroup);
  ASSERT_EQ(whole.groupLength(group), length) << what;
  for (int p = 0; p < whole.planes; ++p) {
    for (int64_t r = 0; r < whole.rows; ++r) {
      EXPECT_EQ(whole.scale(p, r, group), part.scale(p, r, partGroup))
          << what << " plane " << p << " row " << r << " group " << group;
      for (int64_t i = 0; i < length; ++i)
        ASSERT_EQ(whole.isNegative(p, r, firstColumn + i),
                  part.isNegative(p, r, partGroup * part.groupSize + i))
            << what << " plane " << p << " row " << r << " column " << i;
    }
  }
}

TEST(RaggedGroupsTest, EveryGroupEqualsItsColumnsQuantizedAlone) {
  for (const RaggedShape &shape : kShapes) {
    for (Method method : {Method::Greedy, Method::Refined}) {
      for (int planes : {2, 3}) {
        Scheme scheme{shape.groupSize, planes, method, FloatType::F16};
        std::string what = describe(shape, scheme);
        std::vector<float> w =
            randomWeights(Distribution::Laplace, shape.rows * shape.cols,
                          shape.cols * 7 + planes);
        PackedWeight whole = quantizeOrFail(w, shape.rows, shape.cols, scheme);
        int64_t wholeGroups = shape.cols / shape.groupSize;
        int64_t last = shape.cols % shape.groupSize;
        ASSERT_EQ(whole.groupsPerRow(), wholeGroups + 1) << what;
        ASSERT_EQ(whole.groupLength(wholeGroups), last) << what;

        // The last group: its columns alone, as one group of their length.
        Scheme alone = scheme;
        alone.groupSize = last;
        int64_t first = wholeGroups * shape.groupSize;
        PackedWeight lastPart =
            quantizeOrFail(columnsOf(w, shape.rows, shape.cols, first, last),
                           shape.rows, last, alone);
        expectSameGroup(whole, wholeGroups, lastPart, 0, first, what);

        // The whole groups before it are unaffected by the shorter one.
        if (wholeGroups == 0)
          continue;
        PackedWeight head =
            quantizeOrFail(columnsOf(w, shape.rows, shape.cols, 0, first),
                           shape.rows, first, scheme);
        for (int64_t g = 0; g < wholeGroups; ++g)
          expectSameGroup(whole, g, head, g, g * shape.groupSize, what);
      }
    }
  }
}

/// sum over the columns of group `group` of row `row` of (w - w_hat)^2 and
/// of w^2.
std::pair<double, double> groupErrorAndEnergy(const std::vector<float> &w,
                                              const PackedWeight &packed,
                                              int64_t row, int64_t group) {
  double error = 0, energy = 0;
  for (int64_t i = 0; i < packed.groupLength(group); ++i) {
    int64_t c = group * packed.groupSize + i;
    double x = w[row * packed.cols + c];
    double d = x - packed.value(row, c);
    error += d * d;
    energy += x * x;
  }
  return {error, energy};
}

TEST(RaggedGroupsTest, GreedyEnergyIdentityHoldsInEveryGroup) {
  // ||w - w_hat||^2 = ||w||^2 - L * sum_p a_p^2 with L the group's own
  // length: with L = G for the shorter group it would be far off.
  for (const RaggedShape &shape : kShapes) {
    Scheme scheme{shape.groupSize, 3, Method::Greedy, FloatType::F32};
    std::vector<float> w =
        gaussianWeights(shape.rows * shape.cols, 31 + shape.cols);
    PackedWeight packed = quantizeOrFail(w, shape.rows, shape.cols, scheme);
    for (int64_t r = 0; r < shape.rows; ++r) {
      for (int64_t g = 0; g < packed.groupsPerRow(); ++g) {
        auto [error, energy] = groupErrorAndEnergy(w, packed, r, g);
        double captured = 0;
        for (int p = 0; p < scheme.planes; ++p)
          captured += static_cast<double>(packed.scale(p, r, g)) *
                      packed.scale(p, r, g);
        EXPECT_NEAR(error, energy - packed.groupLength(g) * captured,
                    1e-5 * energy)
            << describe(shape, scheme) << " row " << r << " group " << g;
      }
    }
  }
}

TEST(RaggedGroupsTest, RefinedIsNeverWorseThanGreedyInAnyGroup) {
  double greedyTotal = 0, refinedTotal = 0;
  for (const RaggedShape &shape : kShapes) {
    Scheme greedyScheme{shape.groupSize, 2, Method::Greedy, FloatType::F16};
    Scheme refinedScheme = greedyScheme;
    refinedScheme.method = Method::Refined;
    std::vector<float> w = randomWeights(
        Distribution::StudentT4, shape.rows * shape.cols, 77 + shape.cols);
    PackedWeight greedy =
        quantizeOrFail(w, shape.rows, shape.cols, greedyScheme);
    PackedWeight refined =
        quantizeOrFail(w, shape.rows, shape.cols, refinedScheme);
    for (int64_t r = 0; r < shape.rows; ++r) {
      for (int64_t g = 0; g < greedy.groupsPerRow(); ++g) {
        double greedyError = groupErrorAndEnergy(w, greedy, r, g).first;
        double refinedError = groupErrorAndEnergy(w, refined, r, g).first;
        EXPECT_LE(refinedError, greedyError * (1 + 1e-6))
            << describe(shape, refinedScheme) << " row " << r << " group " << g;
        greedyTotal += greedyError;
        refinedTotal += refinedError;
      }
    }
  }
  EXPECT_LT(refinedTotal, 0.99 * greedyTotal);
}

TEST(RaggedGroupsTest, PackedLayoutRoundTripsAndChecksSizes) {
  for (const RaggedShape &shape : kShapes) {
    Scheme scheme{shape.groupSize, 2, Method::Greedy, FloatType::BF16};
    std::string what = describe(shape, scheme);
    std::vector<float> w =
        gaussianWeights(shape.rows * shape.cols, 400 + shape.cols);
    PackedWeight packed = quantizeOrFail(w, shape.rows, shape.cols, scheme);
    int64_t bytes = (shape.cols + 7) / 8;
    int64_t groups = (shape.cols + shape.groupSize - 1) / shape.groupSize;
    ASSERT_EQ(static_cast<int64_t>(packed.signs.size()), 2 * shape.rows * bytes)
        << what;
    ASSERT_EQ(static_cast<int64_t>(packed.scales.size()),
              2 * shape.rows * groups)
        << what;

    for (int p = 0; p < 2; ++p) {
      for (int64_t r = 0; r < shape.rows; ++r) {
        // Padding bits past K are zero; unpacking gives back isNegative.
        if (shape.cols % 8)
          EXPECT_EQ(packed.signRow(p, r)[bytes - 1] >> (shape.cols % 8), 0)
              << what;
        std::vector<uint8_t> flags(shape.cols);
        unpackSigns(packed.signRow(p, r), shape.cols, flags.data());
        std::vector<uint8_t> repacked(bytes);
        packSigns(flags.data(), shape.cols, repacked.data());
        EXPECT_TRUE(
            std::equal(repacked.begin(), repacked.end(), packed.signRow(p, r)))
            << what;
        for (int64_t c = 0; c < shape.cols; ++c)
          ASSERT_EQ(flags[c], packed.isNegative(p, r, c)) << what;
      }
    }

    PackedWeight rebuilt;
    std::vector<uint8_t> scaleBytes = packed.encodedScales();
    Status status = PackedWeight::fromEncoded(
        shape.rows, shape.cols, scheme, packed.signs, scaleBytes, rebuilt);
    ASSERT_TRUE(status.ok()) << what << ": " << status.message();
    EXPECT_EQ(rebuilt.signs, packed.signs) << what;
    EXPECT_EQ(rebuilt.scales, packed.scales) << what;
    std::vector<float> fromPacked(w.size()), fromRebuilt(w.size());
    dequantize(packed, fromPacked.data());
    dequantize(rebuilt, fromRebuilt.data());
    EXPECT_EQ(fromPacked, fromRebuilt) << what;
    for (int64_t r = 0; r < shape.rows; ++r)
      for (int64_t c = 0; c < shape.cols; ++c)
        ASSERT_EQ(fromPacked[r * shape.cols + c], packed.value(r, c)) << what;

    // floor(K/8) sign bytes (one byte less when 8 divides K) or floor(K/G)
    // groups per row are too few.
    std::vector<uint8_t> floorSigns(shape.cols % 8
                                        ? 2 * shape.rows * (shape.cols / 8)
                                        : packed.signs.size() - 1);
    status = PackedWeight::fromEncoded(shape.rows, shape.cols, scheme,
                                       floorSigns, scaleBytes, rebuilt);
    EXPECT_FALSE(status.ok()) << what;
    EXPECT_NE(status.message().find("sign bytes"), std::string::npos)
        << status.message();
    std::vector<uint8_t> floorScales(scaleBytes.begin(),
                                     scaleBytes.begin() +
                                         2 * shape.rows * (groups - 1) * 2);
    status = PackedWeight::fromEncoded(shape.rows, shape.cols, scheme,
                                       packed.signs, floorScales, rebuilt);
    EXPECT_FALSE(status.ok()) << what;
    EXPECT_NE(status.message().find("scale bytes"), std::string::npos)
        << status.message();
  }
}

TEST(RaggedGroupsTest, KSmallerThanGroupSizeIsOneShorterGroup) {
  const int64_t rows = 9, cols = 40;
  std::vector<float> w = gaussianWeights(rows * cols, 501);
  for (Method method : {Method::Greedy, Method::Refined}) {
    PackedWeight big =
        quantizeOrFail(w, rows, cols, {128, 2, method, FloatType::F16});
    PackedWeight exact =
        quantizeOrFail(w, rows, cols, {40, 2, method, FloatType::F16});
    EXPECT_EQ(big.groupsPerRow(), 1);
    EXPECT_EQ(big.signs, exact.signs);
    EXPECT_EQ(big.scales, exact.scales);
  }
}

TEST(RaggedGroupsTest, ThirteenColumnsInGroupsOfEight) {
  // Groups of 8 and 5 columns, 2 sign bytes per row, the second with 3
  // padding bits.
  const int64_t rows = 6, cols = 13;
  std::vector<float> w = randomWeights(Distribution::Uniform, rows * cols, 13);
  PackedWeight packed =
      quantizeOrFail(w, rows, cols, {8, 1, Method::Greedy, FloatType::F32});
  ASSERT_EQ(packed.bytesPerRow(), 2);
  ASSERT_EQ(packed.groupsPerRow(), 2);
  for (int64_t r = 0; r < rows; ++r) {
    double head = 0, tail = 0;
    for (int64_t c = 0; c < 8; ++c)
      head += std::fabs(w[r * cols + c]);
    for (int64_t c = 8; c < cols; ++c)
      tail += std::fabs(w[r * cols + c]);
    EXPECT_FLOAT_EQ(packed.scale(0, r, 0), static_cast<float>(head / 8));
    EXPECT_FLOAT_EQ(packed.scale(0, r, 1), static_cast<float>(tail / 5));
    EXPECT_EQ(packed.signRow(0, r)[1] >> 5, 0) << "padding bits";
    for (int64_t c = 0; c < cols; ++c)
      EXPECT_EQ(packed.isNegative(0, r, c), w[r * cols + c] < 0);
  }
}

TEST(RaggedGroupsTest, BitsPerWeightCountsPaddingAndTheShorterGroup) {
  // K = 576, G = 128, P = 2, f16: per plane and row 72 sign bytes and 5
  // scales of 2 bytes, so 2 * (576 + 80) / 576 bits per weight.
  Scheme scheme{128, 2, Method::Greedy, FloatType::F16};
  EXPECT_DOUBLE_EQ(bitsPerWeight(scheme, 576), 2.0 * (576 + 80) / 576);
  EXPECT_DOUBLE_EQ(bitsPerWeight(scheme, 512), bitsPerWeight(scheme));
  // K = 13, G = 8, P = 1, f16: 2 sign bytes and 2 scales per row.
  EXPECT_DOUBLE_EQ(bitsPerWeight({8, 1, Method::Greedy, FloatType::F16}, 13),
                   (16.0 + 32.0) / 13);
  for (const RaggedShape &shape : kShapes) {
    Scheme s{shape.groupSize, 3, Method::Greedy, FloatType::BF16};
    PackedWeight packed = quantizeOrFail(
        gaussianWeights(shape.rows * shape.cols, 600 + shape.cols), shape.rows,
        shape.cols, s);
    EXPECT_DOUBLE_EQ(packed.bitsPerWeight(), bitsPerWeight(s, shape.cols))
        << describe(shape, s);
    EXPECT_DOUBLE_EQ(packed.bitsPerWeight(),
                     8.0 * packed.storageBytes() / (shape.rows * shape.cols));
  }
}

TEST(RaggedGroupsTest, RoundToNearestRoundsTheShorterGroupOnItsOwn) {
  for (RoundToNearestKind kind :
       {RoundToNearestKind::MinMax, RoundToNearestKind::AbsMax}) {
    for (const RaggedShape &shape : kShapes) {
      std::vector<float> w = randomWeights(
          Distribution::Laplace, shape.rows * shape.cols, 700 + shape.cols);
      std::vector<float> whole(w.size(), NAN);
      ASSERT_TRUE(
          roundToNearest(MatrixView::ofFloats(w.data(), shape.rows, shape.cols),
                         shape.groupSize, 2, kind, whole.data())
              .ok());
      int64_t last = shape.cols % shape.groupSize;
      int64_t first = shape.cols - last;
      std::vector<float> lastColumns =
          columnsOf(w, shape.rows, shape.cols, first, last);
      std::vector<float> alone(lastColumns.size(), NAN);
      ASSERT_TRUE(roundToNearest(MatrixView::ofFloats(lastColumns.data(),
                                                      shape.rows, last),
                                 last, 2, kind, alone.data())
                      .ok());
      EXPECT_EQ(columnsOf(whole, shape.rows, shape.cols, first, last), alone)
          << "K=" << shape.cols << " G=" << shape.groupSize;
    }
  }
}

} // namespace
