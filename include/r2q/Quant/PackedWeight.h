//===- PackedWeight.h - The canonical packed R2Q weight format --*- C++ -*-===//
//
// An N x K weight matrix quantized with P planes and group size G is stored as
//   signs:  P x N x ceil(K/8) bytes. Bit j (least significant = 0) of byte b
//           of a row holds column 8*b + j; a set bit means -1, a clear bit +1
//           (the bit is the IEEE sign bit of the plane's contribution).
//           Padding bits past K are zero.
//   scales: P x N x ceil(K/G) values of the scale type, all >= 0. When G does
//           not divide K, the last group of a row is shorter: it holds the
//           K - G*floor(K/G) last columns and its scales are theirs alone.
// A weight decodes as w_hat[n][k] = sum_p scales[p][n][k/G] * (bit ? -1 : +1).
// docs/format.md is the full specification.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_PACKEDWEIGHT_H
#define R2Q_QUANT_PACKEDWEIGHT_H

#include "r2q/Quant/Scheme.h"

#include <cstdint>
#include <span>
#include <vector>

namespace r2q::quant {

/// Packs `count` sign flags (nonzero = -1) into ceil(count/8) bytes; padding
/// bits are zero.
void packSigns(const uint8_t *negative, int64_t count, uint8_t *bits);

/// Inverse of packSigns: writes `count` flags of 0 (+1) or 1 (-1).
void unpackSigns(const uint8_t *bits, int64_t count, uint8_t *negative);

/// Little-endian bytes of `values` in `type` (rounded to nearest even).
std::vector<uint8_t> encodeScales(std::span<const float> values,
                                  FloatType type);

/// Inverse of encodeScales.
std::vector<float> decodeScales(std::span<const uint8_t> bytes, FloatType type);

/// The weights a scheme keeps apart from its planes, row by row (CSR): row r
/// owns entries rowOffsets[r] to rowOffsets[r + 1] - 1, each a column and the
/// correction that makes the decoded weight exact there,
///   w_hat[r][col] = sum_p scales * signs + value.
/// Columns ascend within a row. Empty rowOffsets: no outliers.
struct SparseOutliers {
  std::vector<int32_t> rowOffsets;
  std::vector<int32_t> columns;
  /// Exactly representable in valueType.
  std::vector<float> values;
  FloatType valueType = FloatType::F16;

  bool empty() const { return rowOffsets.empty(); }
  int64_t count() const { return static_cast<int64_t>(columns.size()); }
  /// Bytes of one stored column index for a matrix of `cols` columns: i16
  /// up to 32768 columns, i32 beyond.
  static int columnBytes(int64_t cols) { return cols <= 32768 ? 2 : 4; }
  /// Bytes stored for a matrix of `rows` x `cols`: i32 row offsets, column
  /// indices and values (0 when empty).
  int64_t storageBytes(int64_t rows, int64_t cols) const;
  /// The correction at (row, col), 0 where there is none.
  float correction(int64_t row, int64_t col) const;
};

/// A quantized N x K matrix in the canonical packed layout.
struct PackedWeight {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t groupSize = 0;
  int planes = 0;
  FloatType scaleType = FloatType::F32;
  /// planes x rows x bytesPerRow(), as in the file comment.
  std::vector<uint8_t> signs;
  /// planes x rows x groupsPerRow(); every value is exactly representable in
  /// scaleType.
  std::vector<float> scales;
  /// Weights kept exactly beside the planes (empty for plain R2Q).
  SparseOutliers outliers;

  /// A zero-filled weight of the given shape (all signs +1, all scales 0).
  static PackedWeight zeros(int64_t rows, int64_t cols, const Scheme &scheme);

  /// Rebuilds a weight from its encoded buffers, checking their sizes and that
  /// every scale is finite and non-negative.
  static Status fromEncoded(int64_t rows, int64_t cols, const Scheme &scheme,
                            std::span<const uint8_t> signBytes,
                            std::span<const uint8_t> scaleBytes,
                            PackedWeight &result);

  int64_t bytesPerRow() const { return packedBytesPerRow(cols); }
  int64_t groupsPerRow() const { return quant::groupsPerRow(cols, groupSize); }
  /// Columns of group `group`: groupSize, fewer for a shorter last group.
  int64_t groupLength(int64_t group) const {
    return quant::groupLength(cols, groupSize, group);
  }

  const uint8_t *signRow(int plane, int64_t row) const {
    return signs.data() + (plane * rows + row) * bytesPerRow();
  }
  uint8_t *signRow(int plane, int64_t row) {
    return signs.data() + (plane * rows + row) * bytesPerRow();
  }
  const float *scaleRow(int plane, int64_t row) const {
    return scales.data() + (plane * rows + row) * groupsPerRow();
  }
  float *scaleRow(int plane, int64_t row) {
    return scales.data() + (plane * rows + row) * groupsPerRow();
  }

  bool isNegative(int plane, int64_t row, int64_t col) const {
    return (signRow(plane, row)[col / 8] >> (col % 8)) & 1;
  }
  float scale(int plane, int64_t row, int64_t group) const {
    return scaleRow(plane, row)[group];
  }
  /// The dequantized value of one weight.
  float value(int64_t row, int64_t col) const;

  /// Scales as little-endian bytes of scaleType.
  std::vector<uint8_t> encodedScales() const {
    return encodeScales(scales, scaleType);
  }

  /// Bytes of signs, scales and outliers together, as stored.
  int64_t storageBytes() const;
  /// 8 * storageBytes() per weight (padding and a shorter last group's
  /// scales included).
  double bitsPerWeight() const;
};

} // namespace r2q::quant

#endif // R2Q_QUANT_PACKEDWEIGHT_H
