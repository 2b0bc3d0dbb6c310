//===- R2Q.cpp - Residual Refinement Quantization -------------------------===//

#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Outliers.h"
#include "r2q/Quant/Parallel.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

namespace r2q::quant {

void MatrixView::loadRow(int64_t row, int64_t col, int64_t count,
                         float *out) const {
  std::size_t first = static_cast<std::size_t>(row * cols + col);
  if (type == FloatType::F32) {
    std::memcpy(out, static_cast<const float *>(data) + first,
                count * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < count; ++i)
    out[i] = loadAsFloat(data, type, first + i);
}

namespace {

/// A position in a matrix, ordered row-major, to report the first failure.
struct Position {
  int64_t row = std::numeric_limits<int64_t>::max();
  int64_t col = 0;
  bool operator<(const Position &other) const {
    return row != other.row ? row < other.row : col < other.col;
  }
};

/// Keeps the row-major first of the positions reported by several threads.
class FirstPosition {
public:
  void report(Position position) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (position < first_)
      first_ = position;
  }
  bool found() const { return first_.row != Position().row; }
  Position get() const { return first_; }

private:
  std::mutex mutex_;
  Position first_;
};

/// sum_i |x_i|, accumulated in double over independent lanes so that the loop
/// vectorizes.
double sumOfMagnitudes(const float *x, int64_t count) {
  constexpr int kLanes = 8;
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes)
    for (int lane = 0; lane < kLanes; ++lane)
      lanes[lane] += std::fabs(static_cast<double>(x[i + lane]));
  double total = 0;
  for (double lane : lanes)
    total += lane;
  for (; i < count; ++i)
    total += std::fabs(static_cast<double>(x[i]));
  return total;
}

/// sum_i h_i |x_i| / sum_i h_i, the scale that minimizes
/// sum_i h_i (x_i - a sign(x_i))^2; the plain mean when every h_i is 0.
double weightedMeanMagnitude(const float *x, const float *importance,
                             int64_t count) {
  double weighted = 0, total = 0;
  for (int64_t i = 0; i < count; ++i) {
    weighted += importance[i] * std::fabs(static_cast<double>(x[i]));
    total += importance[i];
  }
  return total > 0 ? weighted / total : sumOfMagnitudes(x, count) / count;
}

/// One 1-bit stage: chooses the signs and scale of `residual` and subtracts
/// their contribution from it. With `importance`, the scale is the mean
/// magnitude weighted by it.
float quantizeStage(float *residual, int64_t size, FloatType scaleType,
                    uint8_t *negative, const float *importance) {
  double mean = importance ? weightedMeanMagnitude(residual, importance, size)
                           : sumOfMagnitudes(residual, size) / size;
  float scale = roundTo(scaleType, static_cast<float>(mean));
  for (int64_t i = 0; i < size; ++i) {
    bool isNegative = residual[i] < 0; // sign(0) = +1
    negative[i] = isNegative;
    residual[i] -= isNegative ? -scale : scale;
  }
  return scale;
}

/// The level of a code `c` whose bit p is set when plane p is -1.
double levelOf(unsigned code, int planes, const double *scales) {
  double level = 0;
  for (int plane = 0; plane < planes; ++plane)
    level += (code >> plane & 1) ? -scales[plane] : scales[plane];
  return level;
}

/// Least-squares scales for fixed signs: solves (S^T H S) a = S^T H w by
/// Gaussian elimination, H the diagonal of `importance` (identity when null).
/// S^T H S is a Gram matrix; a plane whose sign vector is a combination of
/// earlier ones has a zero pivot and gets scale 0, which still gives a
/// least-squares solution.
void leastSquaresScales(const float *w, int64_t size, int planes,
                        const uint8_t *negative, const float *importance,
                        double *scales) {
  double gram[kMaxPlanes][kMaxPlanes + 1] = {};
  double totalImportance = 0;
  for (int64_t i = 0; i < size; ++i) {
    double h = importance ? importance[i] : 1.0;
    totalImportance += h;
    for (int p = 0; p < planes; ++p) {
      double sp = negative[p * size + i] ? -h : h;
      for (int q = p; q < planes; ++q)
        gram[p][q] += sp * (negative[q * size + i] ? -1.0 : 1.0);
      gram[p][planes] += sp * w[i];
    }
  }
  for (int p = 0; p < planes; ++p)
    for (int q = 0; q < p; ++q)
      gram[p][q] = gram[q][p];

  bool dropped[kMaxPlanes] = {};
  for (int pivot = 0; pivot < planes; ++pivot) {
    if (gram[pivot][pivot] <= 1e-9 * totalImportance) {
      dropped[pivot] = true;
      continue;
    }
    for (int row = pivot + 1; row < planes; ++row) {
      double factor = gram[row][pivot] / gram[pivot][pivot];
      for (int col = pivot; col <= planes; ++col)
        gram[row][col] -= factor * gram[pivot][col];
    }
  }
  for (int p = planes - 1; p >= 0; --p) {
    if (dropped[p]) {
      scales[p] = 0;
      continue;
    }
    double rhs = gram[p][planes];
    for (int q = p + 1; q < planes; ++q)
      rhs -= gram[p][q] * scales[q];
    scales[p] = rhs / gram[p][p];
  }
}

} // namespace

void assignNearestLevels(const float *w, int64_t size, int planes,
                         const float *scales, uint8_t *negative) {
  double exactScales[kMaxPlanes];
  for (int p = 0; p < planes; ++p)
    exactScales[p] = scales[p];
  unsigned codeCount = 1u << planes;
  std::array<std::pair<double, unsigned>, 1u << kMaxPlanes> levels;
  for (unsigned code = 0; code < codeCount; ++code)
    levels[code] = {levelOf(code, planes, exactScales), code};
  std::sort(levels.begin(), levels.begin() + codeCount);
  std::array<double, (1u << kMaxPlanes)> midpoints;
  for (unsigned i = 0; i + 1 < codeCount; ++i)
    midpoints[i] = 0.5 * (levels[i].first + levels[i + 1].first);

  for (int64_t i = 0; i < size; ++i) {
    unsigned index = 0;
    while (index + 1 < codeCount && w[i] >= midpoints[index])
      ++index;
    unsigned code = levels[index].second;
    for (int p = 0; p < planes; ++p)
      negative[p * size + i] = code >> p & 1;
  }
}

void quantizeGroupGreedy(const float *w, int64_t size, int planes,
                         FloatType scaleType, float *scales, uint8_t *negative,
                         float *residual, const float *importance) {
  std::copy(w, w + size, residual);
  for (int plane = 0; plane < planes; ++plane)
    scales[plane] = quantizeStage(residual, size, scaleType,
                                  negative + plane * size, importance);
}

void quantizeGroup(const float *w, int64_t size, const Scheme &scheme,
                   float *scales, uint8_t *negative, float *residual,
                   const float *importance, int maxRefineSteps) {
  quantizeGroupGreedy(w, size, scheme.planes, scheme.scaleType, scales,
                      negative, residual, importance);
  if (scheme.method == Method::Refined)
    refineGroup(w, size, scheme.planes, scheme.scaleType, scales, negative,
                maxRefineSteps, importance);
}

float decodeLevel(int planes, const float *scales, const uint8_t *negative,
                  int64_t stride) {
  float level = 0;
  for (int plane = 0; plane < planes; ++plane)
    level += negative[plane * stride] ? -scales[plane] : scales[plane];
  return level;
}

double groupSquaredError(const float *w, int64_t size, int planes,
                         const float *scales, const uint8_t *negative,
                         const float *importance) {
  double total = 0;
  for (int64_t i = 0; i < size; ++i) {
    double error = static_cast<double>(w[i]) -
                   decodeLevel(planes, scales, negative + i, size);
    total += (importance ? importance[i] : 1.0) * error * error;
  }
  return total;
}

int refineGroup(const float *w, int64_t size, int planes, FloatType scaleType,
                float *scales, uint8_t *negative, int maxSteps,
                const float *importance) {
  double bestError =
      groupSquaredError(w, size, planes, scales, negative, importance);
  std::vector<uint8_t> candidateSigns(negative, negative + planes * size);
  float candidateScales[kMaxPlanes];
  int keptSteps = 0;
  for (int step = 0; step < maxSteps && bestError > 0; ++step) {
    double exactScales[kMaxPlanes];
    leastSquaresScales(w, size, planes, candidateSigns.data(), importance,
                       exactScales);
    for (int plane = 0; plane < planes; ++plane) {
      // A negative scale is the same code with that plane's signs flipped;
      // the nearest-level step below re-derives all signs anyway.
      candidateScales[plane] =
          roundTo(scaleType, static_cast<float>(std::fabs(exactScales[plane])));
    }
    assignNearestLevels(w, size, planes, candidateScales,
                        candidateSigns.data());
    double error = groupSquaredError(w, size, planes, candidateScales,
                                     candidateSigns.data(), importance);
    if (!(error < bestError))
      break;
    bestError = error;
    std::copy(candidateScales, candidateScales + planes, scales);
    std::copy(candidateSigns.begin(), candidateSigns.end(), negative);
    ++keptSteps;
  }
  return keptSteps;
}

Status checkFinite(const MatrixView &weights, unsigned threads) {
  FirstPosition firstBad;
  parallelFor(weights.rows, threads, [&](int64_t begin, int64_t end) {
    std::vector<float> row(weights.cols);
    for (int64_t r = begin; r < end; ++r) {
      weights.loadRow(r, 0, weights.cols, row.data());
      for (int64_t c = 0; c < weights.cols; ++c) {
        if (!std::isfinite(row[c])) {
          firstBad.report({r, c});
          return;
        }
      }
    }
  });
  if (!firstBad.found())
    return Status::success();
  Position at = firstBad.get();
  float value = weights.at(at.row, at.col);
  std::string what = std::isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf";
  return Status::failure("weight at row " + std::to_string(at.row) +
                         ", column " + std::to_string(at.col) + " is " + what);
}

namespace {

/// ORs `count` sign flags into a packed row starting at column `firstCol`.
void setSignBits(const uint8_t *negative, int64_t count, int64_t firstCol,
                 uint8_t *rowBits) {
  int64_t i = 0;
  for (; i < count && (firstCol + i) % 8 != 0; ++i)
    rowBits[(firstCol + i) / 8] |= negative[i] << ((firstCol + i) % 8);
  int64_t wholeBytes = (count - i) / 8;
  packSigns(negative + i, 8 * wholeBytes, rowBits + (firstCol + i) / 8);
  for (i += 8 * wholeBytes; i < count; ++i)
    rowBits[(firstCol + i) / 8] |= negative[i] << ((firstCol + i) % 8);
}

} // namespace

namespace {

/// Checks a column importance vector: empty, or one finite non-negative
/// value per column.
Status checkImportance(std::span<const float> importance, int64_t cols) {
  if (importance.empty())
    return Status::success();
  if (static_cast<int64_t>(importance.size()) != cols)
    return Status::failure("expected one importance per column (" +
                           std::to_string(cols) + "), got " +
                           std::to_string(importance.size()));
  for (size_t i = 0; i < importance.size(); ++i)
    if (!std::isfinite(importance[i]) || importance[i] < 0)
      return Status::failure("the importance of column " + std::to_string(i) +
                             " is negative or not finite");
  return Status::success();
}

/// Gives each outlier of a group the code of its nearest level (their
/// corrections are then as small as they can be) and returns the
/// corrections w - w_hat of the group's outliers, in column order.
void codeOutliers(const float *w, int64_t size, int planes, const float *scales,
                  uint8_t *negative, std::span<const int32_t> outlierOffsets,
                  std::vector<float> &corrections) {
  uint8_t code[kMaxPlanes];
  for (int32_t offset : outlierOffsets) {
    assignNearestLevels(w + offset, 1, planes, scales, code);
    for (int p = 0; p < planes; ++p)
      negative[p * size + offset] = code[p];
    corrections.push_back(static_cast<float>(
        static_cast<double>(w[offset]) -
        decodeLevel(planes, scales, negative + offset, size)));
  }
}

} // namespace

Status quantize(const MatrixView &weights, const Scheme &scheme,
                PackedWeight &result, const QuantizeOptions &options) {
  return quantizeWeighted(weights, scheme, {}, result, options);
}

Status quantizeWeighted(const MatrixView &weights, const Scheme &scheme,
                        std::span<const float> columnImportance,
                        PackedWeight &result, const QuantizeOptions &options) {
  if (Status status = verifyScheme(scheme, weights.cols); !status)
    return status;
  if (weights.rows < 0)
    return Status::failure("negative number of rows");
  if (Status status = checkImportance(columnImportance, weights.cols); !status)
    return status;
  if (Status status = checkFinite(weights, options.threads); !status)
    return status;

  const int64_t groupSize = scheme.groupSize;
  const int planes = scheme.planes;
  OutlierColumns outliers =
      selectOutliers(weights, scheme.outliers, groupSize, options.threads);
  std::vector<std::vector<float>> corrections(weights.rows);
  PackedWeight packed = PackedWeight::zeros(weights.rows, weights.cols, scheme);
  // (row, group) of the first scale that overflows the scale type, and of the
  // first group whose largest decoded magnitude, sum_p a_p, overflows f32.
  FirstPosition firstOverflow, firstDecodeOverflow;
  parallelFor(weights.rows, options.threads, [&](int64_t begin, int64_t end) {
    std::vector<float> group(groupSize), residual(groupSize);
    std::vector<float> importance(groupSize);
    std::vector<int32_t> outlierOffsets;
    std::vector<uint8_t> negative(planes * groupSize);
    float scales[kMaxPlanes];
    for (int64_t row = begin; row < end; ++row) {
      auto nextOutlier = outliers[row].begin();
      for (int64_t g = 0; g < packed.groupsPerRow(); ++g) {
        // A shorter last group is quantized over its own columns only.
        int64_t length = packed.groupLength(g);
        int64_t first = g * groupSize;
        weights.loadRow(row, first, length, group.data());
        outlierOffsets.clear();
        for (; nextOutlier != outliers[row].end() &&
               *nextOutlier < first + length;
             ++nextOutlier)
          outlierOffsets.push_back(static_cast<int32_t>(*nextOutlier - first));
        // Outliers are kept exactly: they take no part in choosing scales.
        const float *weighting = nullptr;
        if (!columnImportance.empty() || !outlierOffsets.empty()) {
          for (int64_t i = 0; i < length; ++i)
            importance[i] =
                columnImportance.empty() ? 1.f : columnImportance[first + i];
          for (int32_t offset : outlierOffsets)
            importance[offset] = 0.f;
          weighting = importance.data();
        }
        quantizeGroup(group.data(), length, scheme, scales, negative.data(),
                      residual.data(), weighting, options.maxRefineSteps);
        codeOutliers(group.data(), length, planes, scales, negative.data(),
                     outlierOffsets, corrections[row]);
        float largestMagnitude = 0;
        for (int plane = 0; plane < planes; ++plane) {
          if (!std::isfinite(scales[plane]))
            firstOverflow.report({row, g});
          largestMagnitude += scales[plane];
          packed.scaleRow(plane, row)[g] = scales[plane];
          setSignBits(negative.data() + plane * length, length, first,
                      packed.signRow(plane, row));
        }
        if (!std::isfinite(largestMagnitude))
          firstDecodeOverflow.report({row, g});
      }
    }
  });
  if (firstOverflow.found()) {
    Position at = firstOverflow.get();
    return Status::failure("a scale of row " + std::to_string(at.row) +
                           ", group " + std::to_string(at.col) + " overflows " +
                           std::string(floatTypeName(scheme.scaleType)) +
                           "; use a wider scale type or rescale the weights");
  }
  if (firstDecodeOverflow.found()) {
    Position at = firstDecodeOverflow.get();
    return Status::failure("the weights of row " + std::to_string(at.row) +
                           ", group " + std::to_string(at.col) +
                           " would decode to infinity in f32 (the sum of "
                           "their scales overflows); rescale the weights");
  }
  if (Status status = attachOutliers(packed, outliers, corrections,
                                     scheme.outliers.valueType);
      !status)
    return status;
  result = std::move(packed);
  return Status::success();
}

void dequantizeRow(const PackedWeight &weight, int64_t row, float *values,
                   bool withOutliers) {
  std::fill(values, values + weight.cols, 0.f);
  for (int plane = 0; plane < weight.planes; ++plane) {
    const uint8_t *bits = weight.signRow(plane, row);
    const float *scales = weight.scaleRow(plane, row);
    for (int64_t col = 0; col < weight.cols; ++col) {
      float scale = scales[col / weight.groupSize];
      values[col] += (bits[col / 8] >> (col % 8) & 1) ? -scale : scale;
    }
  }
  const SparseOutliers &outliers = weight.outliers;
  if (!withOutliers || outliers.empty())
    return;
  for (int32_t i = outliers.rowOffsets[row]; i < outliers.rowOffsets[row + 1];
       ++i)
    values[outliers.columns[i]] += outliers.values[i];
}

void dequantize(const PackedWeight &weight, float *out, unsigned threads) {
  parallelFor(weight.rows, threads, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row)
      dequantizeRow(weight, row, out + row * weight.cols);
  });
}

int64_t countVanishedGroups(const MatrixView &weights,
                            const PackedWeight &weight) {
  int64_t vanished = 0;
  std::vector<float> row(weights.cols);
  for (int64_t r = 0; r < weight.rows; ++r) {
    weights.loadRow(r, 0, weights.cols, row.data());
    for (int64_t group = 0; group < weight.groupsPerRow(); ++group) {
      bool zeroScales = true;
      for (int plane = 0; plane < weight.planes; ++plane)
        zeroScales &= weight.scale(plane, r, group) == 0.f;
      int64_t begin = group * weight.groupSize;
      int64_t end = std::min(begin + weight.groupSize, weights.cols);
      vanished +=
          zeroScales && std::any_of(row.begin() + begin, row.begin() + end,
                                    [](float w) { return w != 0.f; });
    }
  }
  return vanished;
}

} // namespace r2q::quant
