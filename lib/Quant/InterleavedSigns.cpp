//===- InterleavedSigns.cpp - lut_gemv's row-interleaved sign layout ------===//

#include "r2q/Quant/InterleavedSigns.h"
#include "r2q/Quant/Scheme.h"

#include <cassert>

namespace r2q::quant {

namespace {
constexpr int64_t kLanesPerStep = kInterleavedStepBytes / kInterleavedLaneBytes;
constexpr int64_t kStepBlockBytes =
    kInterleavedBlockRows * kInterleavedStepBytes;
} // namespace

int64_t interleavedBlocks(int64_t rows) {
  return (rows + kInterleavedBlockRows - 1) / kInterleavedBlockRows;
}

int64_t interleavedBlockBytes(int64_t cols) {
  int64_t steps = (packedBytesPerRow(cols) + kInterleavedStepBytes - 1) /
                  kInterleavedStepBytes;
  return steps * kStepBlockBytes;
}

int64_t interleavedOffset(int64_t row, int64_t byte) {
  int64_t step = byte / kInterleavedStepBytes;
  int64_t lane = byte % kInterleavedStepBytes / kInterleavedLaneBytes;
  int64_t inLane = byte % kInterleavedLaneBytes;
  return step * kStepBlockBytes +
         inLane * kLanesPerStep * kInterleavedBlockRows +
         lane * kInterleavedBlockRows + row % kInterleavedBlockRows;
}

std::vector<uint8_t> interleaveSignRows(std::span<const uint8_t> signs,
                                        int planes, int64_t rows,
                                        int64_t cols) {
  int64_t bytesPerRow = packedBytesPerRow(cols);
  assert(static_cast<int64_t>(signs.size()) == planes * rows * bytesPerRow &&
         "signs must be planes x rows x ceil(cols / 8) bytes");
  int64_t blockBytes = interleavedBlockBytes(cols);
  int64_t blocks = interleavedBlocks(rows);
  std::vector<uint8_t> interleaved(planes * blocks * blockBytes, 0);
  for (int64_t plane = 0; plane < planes; ++plane) {
    for (int64_t row = 0; row < rows; ++row) {
      const uint8_t *source = signs.data() + (plane * rows + row) * bytesPerRow;
      uint8_t *block =
          interleaved.data() +
          (plane * blocks + row / kInterleavedBlockRows) * blockBytes;
      for (int64_t byte = 0; byte < bytesPerRow; ++byte)
        block[interleavedOffset(row, byte)] = source[byte];
    }
  }
  return interleaved;
}

} // namespace r2q::quant
