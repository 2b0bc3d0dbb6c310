//===- InterleavedWeight.cpp - lut_gemv's row-interleaved layout ----------===//

#include "r2q/Quant/InterleavedWeight.h"
#include "r2q/Quant/Scheme.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace r2q::quant {

namespace {
constexpr int64_t kLanesPerStep = kInterleavedStepBytes / kInterleavedLaneBytes;
constexpr int64_t kStepBlockBytes =
    kInterleavedBlockRows * kInterleavedStepBytes;

/// Where item `item` (of `items` per row, in passes of `perPass`) of row
/// `row` of a `rows`-row plane lands, counted in units of 16 rows' items:
/// pass by pass, block by block within a pass.
int64_t passBlockUnit(int64_t rows, int64_t items, int64_t perPass, int64_t row,
                      int64_t item) {
  int64_t pass = item / perPass;
  int64_t ofPass = std::min(perPass, items - pass * perPass);
  return pass * interleavedBlocks(rows) * perPass +
         row / kInterleavedBlockRows * ofPass + item % perPass;
}
} // namespace

int64_t interleavedBlocks(int64_t rows) {
  return (rows + kInterleavedBlockRows - 1) / kInterleavedBlockRows;
}

int64_t interleavedSteps(int64_t cols) {
  return (packedBytesPerRow(cols) + kInterleavedStepBytes - 1) /
         kInterleavedStepBytes;
}

int64_t interleavedBlockBytes(int64_t cols) {
  return interleavedSteps(cols) * kStepBlockBytes;
}

int64_t interleavedSignOffset(int64_t rows, int64_t cols, int64_t row,
                              int64_t byte) {
  int64_t step = byte / kInterleavedStepBytes;
  int64_t lane = byte % kInterleavedStepBytes / kInterleavedLaneBytes;
  int64_t inLane = byte % kInterleavedLaneBytes;
  return passBlockUnit(rows, interleavedSteps(cols), kInterleavedPassSteps, row,
                       step) *
             kStepBlockBytes +
         inLane * kLanesPerStep * kInterleavedBlockRows +
         lane * kInterleavedBlockRows + row % kInterleavedBlockRows;
}

int64_t interleavedPassGroups(int64_t groupSize) {
  return std::max<int64_t>(1, kInterleavedPassColumns / groupSize);
}

int64_t interleavedScaleOffset(int64_t rows, int64_t groups, int64_t groupSize,
                               int64_t row, int64_t group) {
  return passBlockUnit(rows, groups, interleavedPassGroups(groupSize), row,
                       group) *
             kInterleavedBlockRows +
         row % kInterleavedBlockRows;
}

std::vector<uint8_t> interleaveSignRows(std::span<const uint8_t> signs,
                                        int planes, int64_t rows,
                                        int64_t cols) {
  int64_t bytesPerRow = packedBytesPerRow(cols);
  assert(static_cast<int64_t>(signs.size()) == planes * rows * bytesPerRow &&
         "signs must be planes x rows x ceil(cols / 8) bytes");
  int64_t planeBytes = interleavedBlocks(rows) * interleavedBlockBytes(cols);
  std::vector<uint8_t> interleaved(planes * planeBytes, 0);
  for (int64_t plane = 0; plane < planes; ++plane) {
    uint8_t *target = interleaved.data() + plane * planeBytes;
    for (int64_t row = 0; row < rows; ++row) {
      const uint8_t *source = signs.data() + (plane * rows + row) * bytesPerRow;
      for (int64_t byte = 0; byte < bytesPerRow; ++byte)
        target[interleavedSignOffset(rows, cols, row, byte)] = source[byte];
    }
  }
  return interleaved;
}

std::vector<uint8_t> interleaveScaleRows(std::span<const uint8_t> scales,
                                         int64_t elementBytes, int planes,
                                         int64_t rows, int64_t groups,
                                         int64_t groupSize) {
  assert(static_cast<int64_t>(scales.size()) ==
             planes * rows * groups * elementBytes &&
         "scales must be planes x rows x groups elements");
  int64_t planeElements =
      interleavedBlocks(rows) * kInterleavedBlockRows * groups;
  std::vector<uint8_t> interleaved(planes * planeElements * elementBytes, 0);
  for (int64_t plane = 0; plane < planes; ++plane) {
    uint8_t *target = interleaved.data() + plane * planeElements * elementBytes;
    for (int64_t row = 0; row < rows; ++row) {
      const uint8_t *source =
          scales.data() + (plane * rows + row) * groups * elementBytes;
      for (int64_t group = 0; group < groups; ++group)
        std::memcpy(target + interleavedScaleOffset(rows, groups, groupSize,
                                                    row, group) *
                                 elementBytes,
                    source + group * elementBytes, elementBytes);
    }
  }
  return interleaved;
}

} // namespace r2q::quant
