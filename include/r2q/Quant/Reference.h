//===- Reference.h - High-precision references for testing ------*- C++ -*-===//
//
// What every r2q kernel is checked against: matrix products accumulated in
// double, and error statistics of an approximation.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_REFERENCE_H
#define R2Q_QUANT_REFERENCE_H

#include "r2q/Quant/PackedWeight.h"
#include "r2q/Quant/R2Q.h"

#include <cstdint>

namespace r2q::quant {

/// y[m x N] = x[m x K] * dequantize(weight)^T, accumulated in double.
void referenceMatmul(const float *x, int64_t m, const PackedWeight &weight,
                     double *y, unsigned threads = 0);

/// y[m x N] = x[m x K] * weights^T for a float N x K matrix, in double.
void referenceMatmul(const float *x, int64_t m, const MatrixView &weights,
                     double *y, unsigned threads = 0);

/// How far an approximation is from a reference.
struct ErrorStats {
  double squaredError = 0;
  double squaredNorm = 0;
  int64_t count = 0;

  /// Mean squared error per element.
  double meanSquaredError() const { return count ? squaredError / count : 0; }
  /// ||reference - approximation|| / ||reference|| (0 when both are zero).
  double relativeError() const;
};

/// Error of `approximation` (rows x cols floats) against `reference`.
ErrorStats measureError(const MatrixView &reference,
                        const float *approximation);

} // namespace r2q::quant

#endif // R2Q_QUANT_REFERENCE_H
