//===- R2Q.h - Residual Refinement Quantization -----------------*- C++ -*-===//
//
// R2Q approximates each group w of G weights by P sign planes and P scales,
//   w_hat = sum_p a_p * s_p,   s_p in {-1, +1}^G,   a_p >= 0.
// Greedy (the paper, arXiv 2511.21736): s_p = sign(r_p), a_p = mean|r_p|,
// with r_0 = w and r_{p+1} = r_p - a_p * s_p, and sign(0) = +1. Each residual
// is then orthogonal to its sign vector, so
//   ||w - w_hat||^2 = ||w||^2 - G * sum_p a_p^2       (exact, unrounded a_p).
// Refined: starting from greedy, alternate the least-squares scales for fixed
// signs and the nearest of the 2^P levels for fixed scales, keeping a step only
// when it lowers the error.
//
// When G does not divide K, the last group of each row holds the remaining
// K - G*floor(K/G) weights and is quantized as a group of that size.
//
// Scales are rounded to the scheme's scale type as soon as they are chosen, and
// the next residual is taken against the rounded scale, so later planes correct
// the rounding of earlier ones.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_R2Q_H
#define R2Q_QUANT_R2Q_H

#include "r2q/Quant/PackedWeight.h"
#include "r2q/Quant/Scheme.h"

#include <cstdint>
#include <span>

namespace r2q::quant {

/// A read-only row-major rows x cols matrix of f32, f16 or bf16 weights.
struct MatrixView {
  const void *data = nullptr;
  FloatType type = FloatType::F32;
  int64_t rows = 0;
  int64_t cols = 0;

  static MatrixView ofFloats(const float *data, int64_t rows, int64_t cols) {
    return {data, FloatType::F32, rows, cols};
  }
  float at(int64_t row, int64_t col) const {
    return loadAsFloat(data, type, static_cast<std::size_t>(row * cols + col));
  }
  /// Converts `count` weights of `row` starting at `col` to f32.
  void loadRow(int64_t row, int64_t col, int64_t count, float *out) const;
};

/// Fails with the position of the first NaN or infinite weight, if any.
Status checkFinite(const MatrixView &weights, unsigned threads = 0);

//===----------------------------------------------------------------------===//
// One group. Signs are flags, one byte per weight per plane (1 = -1), laid out
// plane after plane: negative[p * size + i].
//===----------------------------------------------------------------------===//

// `importance` (optional, `size` non-negative values h_i) weighs each
// weight's error: the group minimizes sum_i h_i (w_i - w_hat_i)^2. Null is
// h_i = 1 (the paper). Zero leaves a weight out of the scales (an outlier
// kept apart); the diagonal of X^T X makes the scales activation-aware.

/// Greedy R2Q of `size` weights into `planes` planes. `residual` is scratch
/// space for `size` floats; on return it holds w - w_hat. With importance,
/// each stage's scale is the importance-weighted mean magnitude.
void quantizeGroupGreedy(const float *w, int64_t size, int planes,
                         FloatType scaleType, float *scales, uint8_t *negative,
                         float *residual, const float *importance = nullptr);

/// Improves a group's code in place (see the file comment) and returns the
/// number of steps kept. The result is never worse than the code passed in.
int refineGroup(const float *w, int64_t size, int planes, FloatType scaleType,
                float *scales, uint8_t *negative, int maxSteps = 100,
                const float *importance = nullptr);

/// A group's code by the scheme's method: greedy, then refined for
/// Method::Refined.
void quantizeGroup(const float *w, int64_t size, const Scheme &scheme,
                   float *scales, uint8_t *negative, float *residual,
                   const float *importance, int maxRefineSteps);

/// sum_i h_i (w_i - w_hat_i)^2 for a group code.
double groupSquaredError(const float *w, int64_t size, int planes,
                         const float *scales, const uint8_t *negative,
                         const float *importance = nullptr);

/// Gives every weight the code of its nearest level; ties go to the larger
/// level, so 0 between two symmetric levels stays positive.
void assignNearestLevels(const float *w, int64_t size, int planes,
                         const float *scales, uint8_t *negative);

/// The level of one weight's code, summed in plane order in f32 as every
/// decoder does; `negative[p * stride]` is its flag of plane p.
float decodeLevel(int planes, const float *scales, const uint8_t *negative,
                  int64_t stride);

//===----------------------------------------------------------------------===//
// Whole matrices, multi-threaded over rows.
//===----------------------------------------------------------------------===//

struct QuantizeOptions {
  /// Worker threads; 0 means one per hardware thread.
  unsigned threads = 0;
  /// Most refinement steps per group (Method::Refined only).
  int maxRefineSteps = 100;
};

/// Quantizes an N x K matrix (groups run along K; the last group of a row is
/// shorter when the group size does not divide K). Fails without touching
/// `result` on an invalid scheme, a NaN or infinite weight, or a scale that
/// overflows the scale type; all-zero groups get zero scales. The scheme's
/// outliers are kept as corrections (result.outliers) and left out of the
/// scales.
Status quantize(const MatrixView &weights, const Scheme &scheme,
                PackedWeight &result, const QuantizeOptions &options = {});

/// quantize, minimizing sum_k h_k (w_k - w_hat_k)^2 in every group with the
/// importance h_k of column k (K values, finite, >= 0): with the diagonal of
/// a layer's X^T X, the diagonal approximation of its output error
/// ||X (W - W_hat)^T||^2 (activation-aware scales). Empty: quantize.
Status quantizeWeighted(const MatrixView &weights, const Scheme &scheme,
                        std::span<const float> columnImportance,
                        PackedWeight &result,
                        const QuantizeOptions &options = {});

/// One row of `weight`, with or without its sparse outlier corrections.
void dequantizeRow(const PackedWeight &weight, int64_t row, float *values,
                   bool withOutliers = true);

/// Writes the rows x cols dequantized matrix into `out`.
void dequantize(const PackedWeight &weight, float *out, unsigned threads = 0);

/// The groups of `weights` that hold a non-zero weight but whose scales in
/// `weight` (its quantization) are all zero: weights too small for the scale
/// type, silently decoded as zeros.
int64_t countVanishedGroups(const MatrixView &weights,
                            const PackedWeight &weight);

} // namespace r2q::quant

#endif // R2Q_QUANT_R2Q_H
