//===- Outliers.cpp - Weights kept apart from the sign planes -------------===//

#include "r2q/Quant/Outliers.h"
#include "r2q/Quant/Parallel.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace r2q::quant {
namespace {

/// The `count`-th largest magnitude of the matrix (count >= 1).
float magnitudeRank(const MatrixView &weights, int64_t count) {
  std::vector<float> magnitudes(weights.rows * weights.cols);
  for (int64_t row = 0; row < weights.rows; ++row) {
    float *out = magnitudes.data() + row * weights.cols;
    weights.loadRow(row, 0, weights.cols, out);
    for (int64_t col = 0; col < weights.cols; ++col)
      out[col] = std::fabs(out[col]);
  }
  auto nth = magnitudes.begin() + (count - 1);
  std::nth_element(magnitudes.begin(), nth, magnitudes.end(),
                   std::greater<float>());
  return *nth;
}

/// Whether each weight of `row` is at least `factor` times the RMS magnitude
/// of its group.
void markAboveGroupRms(const std::vector<float> &row, int64_t groupSize,
                       double factor, std::vector<uint8_t> &marked) {
  int64_t cols = static_cast<int64_t>(row.size());
  for (int64_t g = 0; g < groupsPerRow(cols, groupSize); ++g) {
    int64_t begin = g * groupSize;
    int64_t end = begin + groupLength(cols, groupSize, g);
    double sumOfSquares = 0;
    for (int64_t col = begin; col < end; ++col)
      sumOfSquares += static_cast<double>(row[col]) * row[col];
    double limit = factor * std::sqrt(sumOfSquares / (end - begin));
    for (int64_t col = begin; col < end; ++col)
      marked[col] |= limit > 0 && std::fabs(row[col]) > limit;
  }
}

} // namespace

OutlierColumns selectOutliers(const MatrixView &weights,
                              const OutlierPolicy &policy, int64_t groupSize,
                              unsigned threads) {
  OutlierColumns columns(weights.rows);
  if (!policy.enabled() || weights.rows == 0)
    return columns;
  int64_t count = static_cast<int64_t>(
      std::llround(policy.fraction * weights.rows * weights.cols));
  // Weights strictly above the cut are kept; of those equal to it, as many
  // as the count leaves room for, in row-major order.
  float cut = count > 0 ? magnitudeRank(weights, count) : INFINITY;
  std::vector<std::vector<uint8_t>> atCut(weights.rows);
  parallelFor(weights.rows, threads, [&](int64_t begin, int64_t end) {
    std::vector<float> row(weights.cols);
    std::vector<uint8_t> marked(weights.cols);
    for (int64_t r = begin; r < end; ++r) {
      weights.loadRow(r, 0, weights.cols, row.data());
      std::fill(marked.begin(), marked.end(), 0);
      if (policy.threshold > 0)
        markAboveGroupRms(row, groupSize, policy.threshold, marked);
      atCut[r].assign(weights.cols, 0);
      for (int64_t col = 0; col < weights.cols; ++col) {
        float magnitude = std::fabs(row[col]);
        marked[col] |= magnitude > cut;
        atCut[r][col] = magnitude == cut && !marked[col];
      }
      for (int64_t col = 0; col < weights.cols; ++col)
        if (marked[col])
          columns[r].push_back(static_cast<int32_t>(col));
    }
  });
  if (count > 0) {
    int64_t kept = 0;
    for (int64_t r = 0; r < weights.rows; ++r)
      for (int32_t col : columns[r])
        kept += std::fabs(weights.at(r, col)) > cut;
    for (int64_t r = 0; r < weights.rows && kept < count; ++r) {
      for (int64_t col = 0; col < weights.cols && kept < count; ++col) {
        if (!atCut[r][col])
          continue;
        auto &row = columns[r];
        row.insert(std::lower_bound(row.begin(), row.end(), col),
                   static_cast<int32_t>(col));
        ++kept;
      }
    }
  }
  return columns;
}

namespace {

SparseOutliers packOutliers(const OutlierColumns &columns,
                            const std::vector<std::vector<float>> &values,
                            FloatType valueType) {
  SparseOutliers outliers;
  outliers.valueType = valueType;
  bool any = std::any_of(columns.begin(), columns.end(),
                         [](const auto &row) { return !row.empty(); });
  if (!any)
    return outliers;
  outliers.rowOffsets.push_back(0);
  for (size_t r = 0; r < columns.size(); ++r) {
    for (size_t i = 0; i < columns[r].size(); ++i) {
      outliers.columns.push_back(columns[r][i]);
      outliers.values.push_back(roundTo(valueType, values[r][i]));
    }
    outliers.rowOffsets.push_back(
        static_cast<int32_t>(outliers.columns.size()));
  }
  return outliers;
}

/// Steps corrections toward zero where the decoded weight, the level plus
/// the correction summed in f32 as every decoder does, would overflow: a
/// weight at the edge of f32's range minus its level can round up so that
/// adding the level back gives infinity. The result is the finite value
/// nearest the weight.
void keepDecodedFinite(PackedWeight &weight) {
  SparseOutliers &outliers = weight.outliers;
  for (size_t row = 0; row + 1 < outliers.rowOffsets.size(); ++row)
    for (int32_t i = outliers.rowOffsets[row]; i < outliers.rowOffsets[row + 1];
         ++i) {
      int64_t col = outliers.columns[i];
      float level = 0;
      for (int plane = 0; plane < weight.planes; ++plane) {
        float scale = weight.scale(plane, row, col / weight.groupSize);
        level += weight.isNegative(plane, row, col) ? -scale : scale;
      }
      float &correction = outliers.values[i];
      for (int step = 0; step < 8 && std::isfinite(correction) &&
                         !std::isfinite(level + correction);
           ++step)
        correction =
            roundTo(outliers.valueType, std::nextafter(correction, 0.f));
    }
}

Status checkCorrections(const SparseOutliers &outliers) {
  for (size_t row = 0; row + 1 < outliers.rowOffsets.size(); ++row)
    for (int32_t i = outliers.rowOffsets[row]; i < outliers.rowOffsets[row + 1];
         ++i)
      if (!std::isfinite(outliers.values[i]))
        return Status::failure(
            "the outlier at row " + std::to_string(row) + ", column " +
            std::to_string(outliers.columns[i]) + " overflows " +
            std::string(floatTypeName(outliers.valueType)) +
            " corrections; use f32 corrections");
  return Status::success();
}

} // namespace

Status attachOutliers(PackedWeight &weight, const OutlierColumns &columns,
                      const std::vector<std::vector<float>> &values,
                      FloatType valueType) {
  weight.outliers = packOutliers(columns, values, valueType);
  keepDecodedFinite(weight);
  return checkCorrections(weight.outliers);
}

} // namespace r2q::quant
