//===- InterleavedSigns.h - lut_gemv's row-interleaved sign layout -*- C++ -*-//
//
// A target-specific layout of the sign planes, produced from the canonical
// one (PackedWeight.h) by a packing step after quantization: the bytes of 16
// rows stored in the order in which lut_gemv's table lookups consume them,
// so that the kernel loads them with plain vector loads instead of
// transposing them in registers. docs/format.md, "The row-interleaved
// layout", is the specification:
//
//   interleaved[p][blk][1024 s + 64 b + 16 L + j]
//       = canonical[p][16 blk + j][64 s + 16 L + b]
//
// for block blk of 16 rows, step s of 64 bytes (512 columns) of a row, byte
// b < 16 of a 16-byte lane and lane L < 4; zero for rows past N and bytes
// past ceil(K/8). The scales keep the canonical layout.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_INTERLEAVEDSIGNS_H
#define R2Q_QUANT_INTERLEAVEDSIGNS_H

#include <cstdint>
#include <span>
#include <vector>

namespace r2q::quant {

/// Rows of a block (the lanes of lut_gemv's lookups).
inline constexpr int64_t kInterleavedBlockRows = 16;
/// Bytes of a row per step (lut_gemv's fast mode reads one step at a time).
inline constexpr int64_t kInterleavedStepBytes = 64;
/// Bytes of a row per lane of a step (what one vpshufb lane or one exact
/// step covers).
inline constexpr int64_t kInterleavedLaneBytes = 16;

/// Blocks of 16 rows for N rows: ceil(N / 16).
int64_t interleavedBlocks(int64_t rows);

/// Bytes per block for K columns: ceil(ceil(K / 8) / 64) * 1024.
int64_t interleavedBlockBytes(int64_t cols);

/// Where byte `byte` of row `row` of the canonical layout lands within its
/// block (the block is row / 16).
int64_t interleavedOffset(int64_t row, int64_t byte);

/// The canonical sign planes (planes x rows x ceil(cols / 8) bytes) in the
/// row-interleaved layout: planes x interleavedBlocks(rows) x
/// interleavedBlockBytes(cols) bytes, zero where no canonical byte lands.
std::vector<uint8_t> interleaveSignRows(std::span<const uint8_t> signs,
                                        int planes, int64_t rows, int64_t cols);

} // namespace r2q::quant

#endif // R2Q_QUANT_INTERLEAVEDSIGNS_H
