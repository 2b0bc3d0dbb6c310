//===- PackedWeight.cpp - The canonical packed R2Q weight format ----------===//

#include "r2q/Quant/PackedWeight.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace r2q::quant {

void packSigns(const uint8_t *negative, int64_t count, uint8_t *bits) {
  for (int64_t byte = 0; byte < packedBytesPerRow(count); ++byte) {
    uint8_t value = 0;
    int64_t first = 8 * byte;
    for (int64_t bit = 0; bit < 8 && first + bit < count; ++bit)
      value |= static_cast<uint8_t>((negative[first + bit] != 0) << bit);
    bits[byte] = value;
  }
}

void unpackSigns(const uint8_t *bits, int64_t count, uint8_t *negative) {
  for (int64_t i = 0; i < count; ++i)
    negative[i] = (bits[i / 8] >> (i % 8)) & 1;
}

std::vector<uint8_t> encodeScales(std::span<const float> values,
                                  FloatType type) {
  std::vector<uint8_t> bytes(values.size() * byteWidth(type));
  for (std::size_t i = 0; i < values.size(); ++i)
    storeFromFloat(bytes.data(), type, i, values[i]);
  return bytes;
}

std::vector<float> decodeScales(std::span<const uint8_t> bytes,
                                FloatType type) {
  std::vector<float> values(bytes.size() / byteWidth(type));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = loadAsFloat(bytes.data(), type, i);
  return values;
}

PackedWeight PackedWeight::zeros(int64_t rows, int64_t cols,
                                 const Scheme &scheme) {
  PackedWeight weight;
  weight.rows = rows;
  weight.cols = cols;
  weight.groupSize = scheme.groupSize;
  weight.planes = scheme.planes;
  weight.scaleType = scheme.scaleType;
  weight.signs.assign(scheme.planes * rows * packedBytesPerRow(cols), 0);
  weight.scales.assign(
      scheme.planes * rows * quant::groupsPerRow(cols, scheme.groupSize), 0.f);
  return weight;
}

Status PackedWeight::fromEncoded(int64_t rows, int64_t cols,
                                 const Scheme &scheme,
                                 std::span<const uint8_t> signBytes,
                                 std::span<const uint8_t> scaleBytes,
                                 PackedWeight &result) {
  if (Status status = verifyScheme(scheme, cols); !status)
    return status;
  if (rows < 0)
    return Status::failure("negative number of rows");
  PackedWeight weight = zeros(rows, cols, scheme);
  if (signBytes.size() != weight.signs.size())
    return Status::failure("expected " + std::to_string(weight.signs.size()) +
                           " sign bytes, got " +
                           std::to_string(signBytes.size()));
  std::size_t scaleByteCount =
      weight.scales.size() * byteWidth(scheme.scaleType);
  if (scaleBytes.size() != scaleByteCount)
    return Status::failure("expected " + std::to_string(scaleByteCount) +
                           " scale bytes, got " +
                           std::to_string(scaleBytes.size()));
  std::memcpy(weight.signs.data(), signBytes.data(), signBytes.size());
  weight.scales = decodeScales(scaleBytes, scheme.scaleType);
  for (std::size_t i = 0; i < weight.scales.size(); ++i)
    if (!std::isfinite(weight.scales[i]) || weight.scales[i] < 0)
      return Status::failure("scale " + std::to_string(i) +
                             " is negative or not finite");
  result = std::move(weight);
  return Status::success();
}

int64_t SparseOutliers::storageBytes(int64_t rows, int64_t cols) const {
  if (empty())
    return 0;
  return 4 * (rows + 1) +
         count() *
             (columnBytes(cols) + static_cast<int64_t>(byteWidth(valueType)));
}

float SparseOutliers::correction(int64_t row, int64_t col) const {
  if (empty())
    return 0.f;
  auto begin = columns.begin() + rowOffsets[row];
  auto end = columns.begin() + rowOffsets[row + 1];
  auto found = std::lower_bound(begin, end, col);
  return found != end && *found == col ? values[found - columns.begin()] : 0.f;
}

float PackedWeight::value(int64_t row, int64_t col) const {
  float sum = 0;
  for (int plane = 0; plane < planes; ++plane) {
    float scale = this->scale(plane, row, col / groupSize);
    sum += isNegative(plane, row, col) ? -scale : scale;
  }
  return sum + outliers.correction(row, col);
}

int64_t PackedWeight::storageBytes() const {
  return static_cast<int64_t>(signs.size() +
                              scales.size() * byteWidth(scaleType)) +
         outliers.storageBytes(rows, cols);
}

double PackedWeight::bitsPerWeight() const {
  return 8.0 * storageBytes() / (rows * cols);
}

} // namespace r2q::quant
