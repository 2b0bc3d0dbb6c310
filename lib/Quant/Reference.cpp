//===- Reference.cpp - High-precision references for testing --------------===//

#include "r2q/Quant/Reference.h"
#include "r2q/Quant/Parallel.h"

#include <cmath>
#include <limits>
#include <vector>

namespace r2q::quant {

namespace {

/// y[i][n] = sum_k x[i][k] * w_n[k], where `loadWeightRow(n, out)` produces
/// row n of the weight in double.
template <typename LoadWeightRow>
void matmulByWeightRows(const float *x, int64_t m, int64_t n, int64_t k,
                        double *y, unsigned threads,
                        const LoadWeightRow &loadWeightRow) {
  parallelFor(n, threads, [&](int64_t begin, int64_t end) {
    std::vector<double> weightRow(k);
    for (int64_t col = begin; col < end; ++col) {
      loadWeightRow(col, weightRow.data());
      for (int64_t row = 0; row < m; ++row) {
        const float *activations = x + row * k;
        double sum = 0;
        for (int64_t i = 0; i < k; ++i)
          sum += activations[i] * weightRow[i];
        y[row * n + col] = sum;
      }
    }
  });
}

} // namespace

void referenceMatmul(const float *x, int64_t m, const PackedWeight &weight,
                     double *y, unsigned threads) {
  matmulByWeightRows(x, m, weight.rows, weight.cols, y, threads,
                     [&](int64_t row, double *out) {
                       for (int64_t col = 0; col < weight.cols; ++col)
                         out[col] = weight.value(row, col);
                     });
}

void referenceMatmul(const float *x, int64_t m, const MatrixView &weights,
                     double *y, unsigned threads) {
  matmulByWeightRows(x, m, weights.rows, weights.cols, y, threads,
                     [&](int64_t row, double *out) {
                       for (int64_t col = 0; col < weights.cols; ++col)
                         out[col] = weights.at(row, col);
                     });
}

double ErrorStats::relativeError() const {
  if (squaredNorm == 0)
    return squaredError == 0 ? 0 : std::numeric_limits<double>::infinity();
  return std::sqrt(squaredError / squaredNorm);
}

ErrorStats measureError(const MatrixView &reference,
                        const float *approximation) {
  ErrorStats stats;
  for (int64_t row = 0; row < reference.rows; ++row) {
    for (int64_t col = 0; col < reference.cols; ++col) {
      double expected = reference.at(row, col);
      double error = expected - approximation[row * reference.cols + col];
      stats.squaredError += error * error;
      stats.squaredNorm += expected * expected;
    }
  }
  stats.count = reference.rows * reference.cols;
  return stats;
}

} // namespace r2q::quant
