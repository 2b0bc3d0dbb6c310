//===- Calibration.h - Activation-aware R2Q ---------------------*- C++ -*-===//
//
// Plain R2Q minimizes each group's weight error ||w - w_hat||^2. What a model
// needs is the layer's output error on real inputs, ||X (W - W_hat)^T||^2,
// which depends on the inputs only through X^T X (K x K). Given those
// statistics, collected from a few calibration batches of the float model:
//
// * the diagonal of X^T X makes each group's scales minimize
//   sum_k (X^T X)_kk (w_k - w_hat_k)^2 (importance-weighted R2Q; cheap);
// * the full X^T X drives GPTQ-style error feedback on the R2Q lattice:
//   columns are coded in order, each to the nearest of its group's 2^P
//   levels, and its error is spread over the columns not yet coded through
//   the upper Cholesky factor of (X^T X)^-1; each group's scales are chosen
//   (importance-weighted) from the updated weights when the group starts.
//
// Outliers of the scheme are kept exactly in both (no error to feed back).
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_CALIBRATION_H
#define R2Q_QUANT_CALIBRATION_H

#include "r2q/Quant/PackedWeight.h"
#include "r2q/Quant/R2Q.h"

#include <cstdint>
#include <functional>
#include <span>

namespace r2q::quant {

/// Input statistics of one linear layer: X^T X summed over the calibration
/// tokens (row-major K x K, symmetric positive semi-definite) or only its
/// diagonal (K values).
struct LayerStatistics {
  std::span<const double> gram;
  std::span<const double> diagonal;

  bool hasGram() const { return !gram.empty(); }
};

struct CalibrationOptions {
  /// Added to the diagonal of X^T X as a fraction of its mean, so that the
  /// Cholesky factorization exists (GPTQ's damping; 0.01 is its default).
  double dampening = 0.01;
  /// Worker threads over rows; 0 means one per hardware thread.
  unsigned threads = 0;
  int maxRefineSteps = 100;
  /// Called from worker threads as rows finish (rows done so far, rows).
  std::function<void(int64_t, int64_t)> progress;
};

/// Quantizes an N x K weight for its layer's output error (see the file
/// comment): GPTQ-style error feedback when `statistics` has the full X^T X,
/// importance-weighted groups when it has only the diagonal. Deterministic.
/// Fails on what quantize rejects, on statistics of the wrong size or with
/// non-finite or negative diagonal entries, and on an X^T X that is not
/// positive definite even after dampening.
Status quantizeCalibrated(const MatrixView &weights, const Scheme &scheme,
                          const LayerStatistics &statistics,
                          PackedWeight &result,
                          const CalibrationOptions &options = {});

} // namespace r2q::quant

#endif // R2Q_QUANT_CALIBRATION_H
