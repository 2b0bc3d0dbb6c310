//===- RoundToNearest.h - Uniform-grid baselines ----------------*- C++ -*-===//
//
// The round-to-nearest (RTN) quantizers R2Q is compared against. Both put
// 2^bits levels on a uniform grid per group of G weights along K:
//   MinMax: asymmetric, scale = (max - min) / (2^bits - 1), integer zero point
//           z = round(-min / scale); q = clamp(round(w / scale) + z);
//           w_hat = (q - z) * scale. The usual GPTQ/AWQ-style baseline.
//   AbsMax: symmetric, levels (2q + 1 - 2^bits) * absmax / (2^bits - 1), i.e.
//           {-3, -1, 1, 3} * absmax / 3 at 2 bits: no zero level, +-absmax
//           exact.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_ROUNDTONEAREST_H
#define R2Q_QUANT_ROUNDTONEAREST_H

#include "r2q/Quant/R2Q.h"

namespace r2q::quant {

enum class RoundToNearestKind { MinMax, AbsMax };

/// Quantizes `weights` with `bits` bits (1 to 8) per weight and writes the
/// dequantized rows x cols matrix to `reconstruction`. When `groupSize` does
/// not divide K the last group of each row is shorter and gets its own grid.
/// Fails on a group size below 1 and on NaN or infinite weights.
Status roundToNearest(const MatrixView &weights, int64_t groupSize, int bits,
                      RoundToNearestKind kind, float *reconstruction,
                      unsigned threads = 0);

} // namespace r2q::quant

#endif // R2Q_QUANT_ROUNDTONEAREST_H
