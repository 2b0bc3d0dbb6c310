//===- Calibration.cpp - Activation-aware R2Q -----------------------------===//

#include "r2q/Quant/Calibration.h"
#include "r2q/Quant/Outliers.h"
#include "r2q/Quant/Parallel.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace r2q::quant {
namespace {

/// A dense row-major n x n matrix of doubles.
struct SquareMatrix {
  int64_t n = 0;
  std::vector<double> values;

  explicit SquareMatrix(int64_t n) : n(n), values(n * n, 0.0) {}
  double &at(int64_t row, int64_t col) { return values[row * n + col]; }
  double at(int64_t row, int64_t col) const { return values[row * n + col]; }
};

/// The lower Cholesky factor L of a symmetric positive definite `a`
/// (a = L L^T), or false when a pivot is not positive.
bool choleskyLower(const SquareMatrix &a, SquareMatrix &lower) {
  int64_t n = a.n;
  for (int64_t j = 0; j < n; ++j) {
    double diagonal = a.at(j, j);
    for (int64_t k = 0; k < j; ++k)
      diagonal -= lower.at(j, k) * lower.at(j, k);
    if (!(diagonal > 0))
      return false;
    double pivot = std::sqrt(diagonal);
    lower.at(j, j) = pivot;
    for (int64_t i = j + 1; i < n; ++i) {
      double sum = a.at(i, j);
      for (int64_t k = 0; k < j; ++k)
        sum -= lower.at(i, k) * lower.at(j, k);
      lower.at(i, j) = sum / pivot;
    }
  }
  return true;
}

/// (L L^T)^-1 from the lower Cholesky factor L.
SquareMatrix inverseFromCholesky(const SquareMatrix &lower) {
  int64_t n = lower.n;
  // Linv: the inverse of the lower triangular L, by forward substitution.
  SquareMatrix inverseLower(n);
  for (int64_t col = 0; col < n; ++col) {
    inverseLower.at(col, col) = 1.0 / lower.at(col, col);
    for (int64_t row = col + 1; row < n; ++row) {
      double sum = 0;
      for (int64_t k = col; k < row; ++k)
        sum += lower.at(row, k) * inverseLower.at(k, col);
      inverseLower.at(row, col) = -sum / lower.at(row, row);
    }
  }
  // (L L^T)^-1 = Linv^T Linv.
  SquareMatrix inverse(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) {
      double sum = 0;
      for (int64_t k = j; k < n; ++k)
        sum += inverseLower.at(k, i) * inverseLower.at(k, j);
      inverse.at(i, j) = inverse.at(j, i) = sum;
    }
  return inverse;
}

/// The upper Cholesky factor U of (X^T X + damping)^-1 (U^T U = H^-1), the
/// matrix GPTQ's error feedback runs on; false when H is not positive
/// definite.
bool inverseHessianFactor(std::span<const double> gram, int64_t n,
                          double dampening, SquareMatrix &upper) {
  SquareMatrix hessian(n);
  double meanDiagonal = 0;
  for (int64_t i = 0; i < n; ++i)
    meanDiagonal += gram[i * n + i] / n;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      hessian.at(i, j) = gram[i * n + j];
  for (int64_t i = 0; i < n; ++i) {
    // A column no calibration input ever touched: its weights do not
    // matter for the output; give it unit curvature.
    if (hessian.at(i, i) == 0)
      hessian.at(i, i) = 1;
    hessian.at(i, i) += dampening * meanDiagonal;
  }
  SquareMatrix lower(n);
  if (!choleskyLower(hessian, lower))
    return false;
  SquareMatrix inverse = inverseFromCholesky(lower);
  SquareMatrix inverseLower(n);
  if (!choleskyLower(inverse, inverseLower))
    return false;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j)
      upper.at(i, j) = inverseLower.at(j, i);
  return true;
}

Status checkStatistics(const LayerStatistics &statistics, int64_t cols) {
  if (statistics.hasGram() &&
      static_cast<int64_t>(statistics.gram.size()) != cols * cols)
    return Status::failure("expected X^T X of " + std::to_string(cols) + " x " +
                           std::to_string(cols) + " values, got " +
                           std::to_string(statistics.gram.size()));
  std::span<const double> diagonal = statistics.diagonal;
  if (!statistics.hasGram() && static_cast<int64_t>(diagonal.size()) != cols)
    return Status::failure("expected the diagonal of X^T X (" +
                           std::to_string(cols) + " values), got " +
                           std::to_string(diagonal.size()));
  for (int64_t k = 0; k < cols; ++k) {
    double value =
        statistics.hasGram() ? statistics.gram[k * cols + k] : diagonal[k];
    if (!std::isfinite(value) || value < 0)
      return Status::failure("X^T X has a negative or non-finite diagonal "
                             "entry at column " +
                             std::to_string(k));
  }
  return Status::success();
}

/// One row of GPTQ on the R2Q lattice. `row` holds the weights and is
/// updated in place by the error feedback; codes and scales go to `packed`,
/// corrections of the row's outliers to `corrections`.
void quantizeRowWithFeedback(std::vector<double> &row, int64_t rowIndex,
                             const Scheme &scheme, const SquareMatrix &upper,
                             std::span<const int32_t> outlierColumns,
                             int maxRefineSteps, PackedWeight &packed,
                             std::vector<float> &corrections) {
  const int64_t cols = packed.cols, groupSize = scheme.groupSize;
  const int planes = scheme.planes;
  std::vector<float> group(groupSize), residual(groupSize),
      importance(groupSize);
  std::vector<uint8_t> negative(planes * groupSize);
  std::vector<uint8_t> isOutlier(cols, 0);
  for (int32_t col : outlierColumns)
    isOutlier[col] = 1;
  float scales[kMaxPlanes];
  uint8_t code[kMaxPlanes];
  for (int64_t g = 0; g < packed.groupsPerRow(); ++g) {
    int64_t first = g * groupSize, length = packed.groupLength(g);
    // Scales from the weights as the feedback so far has left them, each
    // column weighted by its curvature; outliers take no part.
    for (int64_t i = 0; i < length; ++i) {
      group[i] = static_cast<float>(row[first + i]);
      importance[i] =
          isOutlier[first + i]
              ? 0.f
              : static_cast<float>(1.0 / (upper.at(first + i, first + i) *
                                          upper.at(first + i, first + i)));
    }
    quantizeGroup(group.data(), length, scheme, scales, negative.data(),
                  residual.data(), importance.data(), maxRefineSteps);
    for (int plane = 0; plane < planes; ++plane)
      packed.scaleRow(plane, rowIndex)[g] = scales[plane];
    // Columns in order: the nearest level, and its error fed forward.
    for (int64_t col = first; col < first + length; ++col) {
      float weight = static_cast<float>(row[col]);
      assignNearestLevels(&weight, 1, planes, scales, code);
      float level = decodeLevel(planes, scales, code, 1);
      for (int plane = 0; plane < planes; ++plane)
        packed.signRow(plane, rowIndex)[col / 8] |=
            static_cast<uint8_t>(code[plane] << (col % 8));
      if (isOutlier[col]) {
        corrections.push_back(static_cast<float>(row[col] - level));
        continue; // Kept exactly: no error to feed back.
      }
      double error = (row[col] - level) / upper.at(col, col);
      for (int64_t next = col + 1; next < cols; ++next)
        row[next] -= error * upper.at(col, next);
    }
  }
}

/// ||X (w - w_hat)^T||^2 = e^T (X^T X) e for one row, e = w - w_hat, with
/// the row's outliers counted as exact (their corrections make them so).
double calibrationLoss(std::span<const float> weights,
                       std::span<const float> decoded,
                       std::span<const int32_t> outlierColumns,
                       std::span<const double> gram) {
  const int64_t cols = static_cast<int64_t>(weights.size());
  std::vector<double> error(cols);
  for (int64_t k = 0; k < cols; ++k)
    error[k] = double(weights[k]) - decoded[k];
  for (int32_t col : outlierColumns)
    error[col] = 0;
  double loss = 0;
  for (int64_t i = 0; i < cols; ++i) {
    if (error[i] == 0)
      continue;
    double gramTimesError = 0;
    for (int64_t j = 0; j < cols; ++j)
      gramTimesError += gram[i * cols + j] * error[j];
    loss += error[i] * gramTimesError;
  }
  return loss;
}

/// Replaces row `row` of `packed` (and its outlier corrections) by that of
/// `other`, a code of the same shape and scheme.
void copyRowCode(const PackedWeight &other, int64_t row, PackedWeight &packed,
                 std::vector<float> &corrections) {
  const int64_t signBytes = (packed.cols + 7) / 8;
  for (int plane = 0; plane < packed.planes; ++plane) {
    std::copy_n(other.signRow(plane, row), signBytes,
                packed.signRow(plane, row));
    std::copy_n(other.scaleRow(plane, row), packed.groupsPerRow(),
                packed.scaleRow(plane, row));
  }
  corrections.clear();
  if (other.outliers.empty())
    return;
  corrections.assign(
      other.outliers.values.begin() + other.outliers.rowOffsets[row],
      other.outliers.values.begin() + other.outliers.rowOffsets[row + 1]);
}

/// Error feedback on 2-bit levels is a greedy walk and can end worse than
/// choosing each group's scales from the diagonal of X^T X alone: keeps,
/// row by row, whichever of the two codes has the lower calibration loss,
/// so the full statistics are never worse than the diagonal.
Status keepBetterRows(const MatrixView &weights, const Scheme &scheme,
                      std::span<const double> gram,
                      const OutlierColumns &outliers,
                      const CalibrationOptions &options, PackedWeight &packed,
                      std::vector<std::vector<float>> &corrections) {
  const int64_t cols = weights.cols;
  std::vector<float> importance(cols);
  for (int64_t k = 0; k < cols; ++k)
    importance[k] = static_cast<float>(gram[k * cols + k]);
  QuantizeOptions quantizeOptions;
  quantizeOptions.threads = options.threads;
  quantizeOptions.maxRefineSteps = options.maxRefineSteps;
  PackedWeight diagonal;
  if (Status status = quantizeWeighted(weights, scheme, importance, diagonal,
                                       quantizeOptions);
      !status)
    return status;
  parallelFor(weights.rows, options.threads, [&](int64_t begin, int64_t end) {
    std::vector<float> row(cols), fromFeedback(cols), fromDiagonal(cols);
    for (int64_t r = begin; r < end; ++r) {
      weights.loadRow(r, 0, cols, row.data());
      dequantizeRow(packed, r, fromFeedback.data(), /*withOutliers=*/false);
      dequantizeRow(diagonal, r, fromDiagonal.data(), /*withOutliers=*/false);
      if (calibrationLoss(row, fromDiagonal, outliers[r], gram) <
          calibrationLoss(row, fromFeedback, outliers[r], gram))
        copyRowCode(diagonal, r, packed, corrections[r]);
    }
  });
  return Status::success();
}

Status quantizeWithFeedback(const MatrixView &weights, const Scheme &scheme,
                            std::span<const double> gram, PackedWeight &result,
                            const CalibrationOptions &options) {
  const int64_t cols = weights.cols;
  SquareMatrix upper(cols);
  if (!inverseHessianFactor(gram, cols, options.dampening, upper))
    return Status::failure("X^T X is not positive definite even with "
                           "dampening " +
                           std::to_string(options.dampening) +
                           "; collect more calibration tokens or raise the "
                           "dampening");
  OutlierColumns outliers = selectOutliers(weights, scheme.outliers,
                                           scheme.groupSize, options.threads);
  std::vector<std::vector<float>> corrections(weights.rows);
  PackedWeight packed = PackedWeight::zeros(weights.rows, cols, scheme);
  std::atomic<int64_t> rowsDone{0};
  parallelFor(weights.rows, options.threads, [&](int64_t begin, int64_t end) {
    std::vector<float> loaded(cols);
    std::vector<double> row(cols);
    for (int64_t r = begin; r < end; ++r) {
      weights.loadRow(r, 0, cols, loaded.data());
      row.assign(loaded.begin(), loaded.end());
      quantizeRowWithFeedback(row, r, scheme, upper, outliers[r],
                              options.maxRefineSteps, packed, corrections[r]);
      int64_t done = ++rowsDone;
      if (options.progress)
        options.progress(done, weights.rows);
    }
  });
  for (size_t i = 0; i < packed.scales.size(); ++i)
    if (!std::isfinite(packed.scales[i]))
      return Status::failure(
          "a scale overflows " + std::string(floatTypeName(scheme.scaleType)) +
          " after error feedback; use a wider scale type or rescale the "
          "weights");
  if (Status status = keepBetterRows(weights, scheme, gram, outliers, options,
                                     packed, corrections);
      !status)
    return status;
  if (Status status = attachOutliers(packed, outliers, corrections,
                                     scheme.outliers.valueType);
      !status)
    return status;
  result = std::move(packed);
  return Status::success();
}

} // namespace

Status quantizeCalibrated(const MatrixView &weights, const Scheme &scheme,
                          const LayerStatistics &statistics,
                          PackedWeight &result,
                          const CalibrationOptions &options) {
  if (Status status = verifyScheme(scheme, weights.cols); !status)
    return status;
  if (Status status = checkStatistics(statistics, weights.cols); !status)
    return status;
  if (Status status = checkFinite(weights, options.threads); !status)
    return status;
  if (statistics.hasGram())
    return quantizeWithFeedback(weights, scheme, statistics.gram, result,
                                options);
  std::vector<float> importance(statistics.diagonal.begin(),
                                statistics.diagonal.end());
  QuantizeOptions quantizeOptions;
  quantizeOptions.threads = options.threads;
  quantizeOptions.maxRefineSteps = options.maxRefineSteps;
  Status status =
      quantizeWeighted(weights, scheme, importance, result, quantizeOptions);
  if (status && options.progress)
    options.progress(weights.rows, weights.rows);
  return status;
}

} // namespace r2q::quant
