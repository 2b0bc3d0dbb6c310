//===- Outliers.h - Weights kept apart from the sign planes -----*- C++ -*-===//
//
// Dense + sparse R2Q: the rare large weights of real LLMs are kept exactly,
// as per-row corrections beside the sign planes (docs/format.md), and the
// planes' scales are chosen without them.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_QUANT_OUTLIERS_H
#define R2Q_QUANT_OUTLIERS_H

#include "r2q/Quant/PackedWeight.h"
#include "r2q/Quant/R2Q.h"

#include <cstdint>
#include <vector>

namespace r2q::quant {

/// Ascending outlier columns of each row of a matrix.
using OutlierColumns = std::vector<std::vector<int32_t>>;

/// The weights `policy` keeps: the fraction with the largest magnitudes in
/// the whole matrix (ties in row-major order), together with every weight
/// above `threshold` times the RMS magnitude of its group of `groupSize`.
/// Deterministic. The weights must be finite.
OutlierColumns selectOutliers(const MatrixView &weights,
                              const OutlierPolicy &policy, int64_t groupSize,
                              unsigned threads = 0);

/// Stores per-row columns and corrections (rounded to `valueType`) in
/// `weight.outliers`, CSR, empty when no row has any. Fails, naming the first
/// outlier, when a correction does not fit its type (a huge weight with f16
/// corrections).
Status attachOutliers(PackedWeight &weight, const OutlierColumns &columns,
                      const std::vector<std::vector<float>> &values,
                      FloatType valueType);

} // namespace r2q::quant

#endif // R2Q_QUANT_OUTLIERS_H
