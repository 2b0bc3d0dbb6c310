//===- QuantFuzzer.cpp - libFuzzer target over the numerics core ----------===//
//
// Turns fuzzer bytes into a quantization problem — shape, group size, plane
// count, method, scale type, weight format — and weight bytes taken verbatim
// (so NaN, infinities, denormals and huge values all occur), then checks what
// the core promises: it either fails with a message or returns a code whose
// scales are finite and non-negative, whose weights decode to finite values
// with at most 2^P levels per group, and whose encoded form reads back
// exactly. Round-to-nearest and PackedWeight::fromEncoded get the same bytes.
//
//===----------------------------------------------------------------------===//

#include "r2q/Quant/PackedWeight.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/RoundToNearest.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <vector>

using namespace r2q::quant;

namespace {

/// Reads small integers off the front of the input.
class ByteReader {
public:
  ByteReader(const uint8_t *data, size_t size) : data_(data), size_(size) {}
  uint8_t next() { return position_ < size_ ? data_[position_++] : 0; }
  const uint8_t *rest() const { return data_ + position_; }
  size_t restSize() const { return size_ - position_; }

private:
  const uint8_t *data_;
  size_t size_;
  size_t position_ = 0;
};

void check(bool condition, const char *what) {
  if (condition)
    return;
  std::fprintf(stderr, "r2q-fuzz-quant: %s\n", what);
  std::abort();
}

void checkCode(const PackedWeight &packed, const Scheme &scheme) {
  for (float scale : packed.scales)
    check(std::isfinite(scale) && scale >= 0, "scale not finite or negative");
  std::vector<float> decoded(packed.rows * packed.cols);
  dequantize(packed, decoded.data(), /*threads=*/1);
  for (int64_t row = 0; row < packed.rows; ++row) {
    for (int64_t group = 0; group < packed.groupsPerRow(); ++group) {
      std::set<float> levels;
      for (int64_t i = 0; i < packed.groupLength(group); ++i) {
        float value = decoded[row * packed.cols + group * scheme.groupSize + i];
        check(std::isfinite(value), "finite weights decoded to non-finite");
        check(value == packed.value(row, group * scheme.groupSize + i),
              "dequantize disagrees with PackedWeight::value");
        levels.insert(value);
      }
      check(levels.size() <= (1u << scheme.planes), "more than 2^P levels");
    }
  }
  PackedWeight reread;
  std::vector<uint8_t> scales = packed.encodedScales();
  check(PackedWeight::fromEncoded(packed.rows, packed.cols, scheme,
                                  packed.signs, scales, reread)
            .ok(),
        "encoded weight does not read back");
  check(reread.signs == packed.signs && reread.scales == packed.scales,
        "encoded weight reads back differently");
}

/// Dense + sparse codes: well-formed CSR, finite decoded weights, and at
/// most 2^P levels per group away from the outliers.
void checkSparseCode(const PackedWeight &packed, const Scheme &scheme) {
  const SparseOutliers &outliers = packed.outliers;
  std::vector<uint8_t> isOutlier(packed.rows * packed.cols, 0);
  if (!outliers.empty()) {
    check(static_cast<int64_t>(outliers.rowOffsets.size()) == packed.rows + 1 &&
              outliers.rowOffsets.front() == 0 &&
              outliers.rowOffsets.back() == outliers.count(),
          "outlier offsets do not span the outliers");
    for (int64_t row = 0; row < packed.rows; ++row)
      for (int32_t i = outliers.rowOffsets[row];
           i < outliers.rowOffsets[row + 1]; ++i) {
        check(outliers.columns[i] >= 0 && outliers.columns[i] < packed.cols &&
                  (i == outliers.rowOffsets[row] ||
                   outliers.columns[i - 1] < outliers.columns[i]),
              "outlier columns out of range or not ascending");
        isOutlier[row * packed.cols + outliers.columns[i]] = 1;
      }
  }
  std::vector<float> decoded(packed.rows * packed.cols);
  dequantize(packed, decoded.data(), /*threads=*/1);
  for (int64_t row = 0; row < packed.rows; ++row)
    for (int64_t group = 0; group < packed.groupsPerRow(); ++group) {
      std::set<float> levels;
      for (int64_t i = 0; i < packed.groupLength(group); ++i) {
        int64_t index = row * packed.cols + group * scheme.groupSize + i;
        check(std::isfinite(decoded[index]),
              "finite weights decoded to non-finite");
        if (!isOutlier[index])
          levels.insert(decoded[index]);
      }
      check(levels.size() <= (1u << scheme.planes), "more than 2^P levels");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ByteReader reader(data, size);
  Scheme scheme;
  int64_t rows = 1 + reader.next() % 8;
  scheme.groupSize = 1 + reader.next() % 64;
  int64_t groups = 1 + reader.next() % 4;
  int64_t cols = scheme.groupSize * groups;
  if (reader.next() % 8 == 0)
    cols += 1 + reader.next() % 7;   // Sometimes a shorter last group.
  scheme.planes = reader.next() % 6; // 0 and 5 are invalid on purpose.
  scheme.method = reader.next() % 2 ? Method::Refined : Method::Greedy;
  scheme.scaleType = static_cast<FloatType>(reader.next() % 3);
  FloatType weightType = static_cast<FloatType>(reader.next() % 3);

  std::vector<uint8_t> bytes(rows * cols * byteWidth(weightType));
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = i < reader.restSize() ? reader.rest()[i] : 0;
  MatrixView weights{bytes.data(), weightType, rows, cols};

  QuantizeOptions options;
  options.threads = 1;
  options.maxRefineSteps = 8;
  PackedWeight packed;
  Status status = quantize(weights, scheme, packed, options);
  if (status.ok())
    checkCode(packed, scheme);
  else
    check(!status.message().empty(), "failure without a message");

  // The same weights dense + sparse, with importance-weighted scales.
  if (status.ok()) {
    Scheme sparse = scheme;
    sparse.outliers = {0.01 * (reader.next() % 20), 0.5 * (reader.next() % 8),
                       reader.next() % 2 ? FloatType::F32 : FloatType::F16};
    std::vector<float> importance(cols);
    for (int64_t k = 0; k < cols; ++k)
      importance[k] = static_cast<float>((k * 2654435761u) % 97);
    PackedWeight sparsePacked;
    Status sparseStatus =
        quantizeWeighted(weights, sparse, importance, sparsePacked, options);
    if (sparseStatus.ok())
      checkSparseCode(sparsePacked, sparse);
    else
      check(!sparseStatus.message().empty(), "failure without a message");
  }

  std::vector<float> reconstruction(rows * cols);
  Status rtn = roundToNearest(weights, scheme.groupSize, 1 + reader.next() % 8,
                              reader.next() % 2 ? RoundToNearestKind::MinMax
                                                : RoundToNearestKind::AbsMax,
                              reconstruction.data(), /*threads=*/1);
  if (rtn.ok())
    for (float value : reconstruction)
      check(std::isfinite(value), "round-to-nearest produced non-finite");

  // Arbitrary bytes as an encoded weight: rejected or valid, never a crash.
  if (scheme.planes >= 1 && scheme.planes <= kMaxPlanes) {
    PackedWeight decoded;
    size_t signBytes = scheme.planes * rows * packedBytesPerRow(cols);
    size_t scaleBytes = scheme.planes * rows *
                        groupsPerRow(cols, scheme.groupSize) *
                        byteWidth(scheme.scaleType);
    if (bytes.size() >= signBytes + scaleBytes &&
        PackedWeight::fromEncoded(rows, cols, scheme, {bytes.data(), signBytes},
                                  {bytes.data() + signBytes, scaleBytes},
                                  decoded)
            .ok())
      for (float scale : decoded.scales)
        check(std::isfinite(scale) && scale >= 0,
              "fromEncoded accepted a bad scale");
  }
  return 0;
}
