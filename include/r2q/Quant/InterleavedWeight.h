//===- InterleavedWeight.h - lut_gemv's row-interleaved layout --*- C++ -*-===//
//
// A target-specific layout of a quantized weight, produced from the
// canonical one (PackedWeight.h) by a packing step after quantization: the
// sign bytes and the scales of 16 rows stored in the order in which
// lut_gemv consumes them, so that the kernel loads them with plain vector
// loads instead of transposing and gathering them in registers.
// docs/format.md, "The row-interleaved layout", is the specification. With
// B = ceil(N / 16) blocks of 16 rows, S = ceil(ceil(K / 8) / 64) steps of 64
// bytes (512 columns) per row, and steps in passes of 4 (2048 columns):
//
//   signs, plane p, flat byte T * B * 4096 + blk * S_T * 1024
//                             + 1024 (s - 4 T) + 64 b + 16 L + j
//       = canonical signs[p][16 blk + j][64 s + 16 L + b]
//
// for block blk, step s in pass T = s / 4 of S_T = min(4, S - 4 T) steps,
// byte b < 16 of a 16-byte lane and lane L < 4; and, with the Gn groups of a
// row in passes of Gp = max(1, 2048 / G) groups,
//
//   scales, plane p, flat element U * B * 16 Gp + blk * G_U * 16
//                                 + 16 (g - U Gp) + j
//       = canonical scales[p][16 blk + j][g]
//
// for group g in pass U = g / Gp of G_U = min(Gp, Gn - U Gp) groups; zero for
// rows past N and bytes past ceil(K/8). lut_gemv runs over all blocks once
// per pass, so that the pass's activation tables stay in L1, and reads both
// streams front to back.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_INTERLEAVEDWEIGHT_H
#define R2Q_QUANT_INTERLEAVEDWEIGHT_H

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
/// Steps of a block per pass: 2048 columns, whose fast-mode tables (8 KiB per
/// activation row) stay in L1 while the signs stream past.
inline constexpr int64_t kInterleavedPassSteps = 4;
/// Columns of a pass.
inline constexpr int64_t kInterleavedPassColumns =
    kInterleavedPassSteps * kInterleavedStepBytes * 8;

/// Blocks of 16 rows for N rows: ceil(N / 16).
int64_t interleavedBlocks(int64_t rows);

/// Steps of a row for K columns: ceil(ceil(K / 8) / 64).
int64_t interleavedSteps(int64_t cols);

/// Bytes per block for K columns: interleavedSteps(cols) * 1024.
int64_t interleavedBlockBytes(int64_t cols);

/// Where byte `byte` of row `row` of a canonical `rows` x `cols` sign plane
/// lands within the plane's interleavedBlocks(rows) *
/// interleavedBlockBytes(cols) bytes.
int64_t interleavedSignOffset(int64_t rows, int64_t cols, int64_t row,
                              int64_t byte);

/// Groups of a scale pass for groups of `groupSize` columns: max(1, 2048 /
/// groupSize).
int64_t interleavedPassGroups(int64_t groupSize);

/// Where scale `group` of row `row` of a canonical `rows` x `groups` scale
/// plane (groups of `groupSize` columns) lands within the plane's
/// interleavedBlocks(rows) * 16 * groups elements.
int64_t interleavedScaleOffset(int64_t rows, int64_t groups, int64_t groupSize,
                               int64_t row, int64_t group);

/// The canonical sign planes (planes x rows x ceil(cols / 8) bytes) in the
/// row-interleaved layout: planes x interleavedBlocks(rows) x
/// interleavedBlockBytes(cols) bytes, zero where no canonical byte lands.
std::vector<uint8_t> interleaveSignRows(std::span<const uint8_t> signs,
                                        int planes, int64_t rows, int64_t cols);

/// The canonical scale planes (planes x rows x groups elements of
/// `elementBytes` bytes each) in the row-interleaved layout: planes x
/// interleavedBlocks(rows) x 16 * groups elements, zero where no canonical
/// scale lands.
std::vector<uint8_t> interleaveScaleRows(std::span<const uint8_t> scales,
                                         int64_t elementBytes, int planes,
                                         int64_t rows, int64_t groups,
                                         int64_t groupSize);

} // namespace r2q::quant

#endif // R2Q_QUANT_INTERLEAVEDWEIGHT_H
