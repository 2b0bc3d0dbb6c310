//===- QuantizationReport.cpp - R2Q vs round-to-nearest on real weights ---===//

#include "QuantizationReport.h"

#include "r2q/Quant/Npy.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Quant/RoundToNearest.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace r2q::quant;

namespace r2q::demo {

namespace {

struct Result {
  const char *method;
  int64_t groupSize;
  double bitsPerWeight;
  ErrorStats error;
};

Result measureR2Q(const MatrixView &weights, Method method, int64_t groupSize) {
  Scheme scheme{groupSize, /*planes=*/2, method, FloatType::F16};
  PackedWeight packed;
  if (Status status = quantize(weights, scheme, packed); !status) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    std::exit(1);
  }
  std::vector<float> reconstruction(weights.rows * weights.cols);
  dequantize(packed, reconstruction.data());
  return {method == Method::Greedy ? "R2Q greedy (paper)" : "R2Q refined",
          groupSize, bitsPerWeight(scheme),
          measureError(weights, reconstruction.data())};
}

/// Storage of RTN: 2-bit codes, an f16 scale per group, and for min/max a
/// 2-bit integer zero point per group.
Result measureRoundToNearest(const MatrixView &weights, RoundToNearestKind kind,
                             int64_t groupSize) {
  std::vector<float> reconstruction(weights.rows * weights.cols);
  if (Status status = roundToNearest(weights, groupSize, /*bits=*/2, kind,
                                     reconstruction.data());
      !status) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    std::exit(1);
  }
  bool minMax = kind == RoundToNearestKind::MinMax;
  double overhead = minMax ? 16.0 + 2.0 : 16.0;
  return {minMax ? "RTN min/max, zero point" : "RTN absmax, symmetric",
          groupSize, 2.0 + overhead / groupSize,
          measureError(weights, reconstruction.data())};
}

void printRow(const Result &result) {
  std::printf("%6lld  %-24s %8.3f  %10.4f  %12.4e\n",
              static_cast<long long>(result.groupSize), result.method,
              result.bitsPerWeight, result.error.relativeError(),
              result.error.meanSquaredError());
}

} // namespace

int printQuantizationReport(const std::string &path) {
  NpyMatrix matrix;
  if (Status status = readNpyMatrix(path, matrix); !status) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return 1;
  }
  MatrixView weights = matrix.view();
  std::printf("== 2-bit quantization of a real weight matrix: %s (%lld x %lld, "
              "%s)\n\n",
              path.c_str(), static_cast<long long>(weights.rows),
              static_cast<long long>(weights.cols),
              std::string(floatTypeName(weights.type)).c_str());
  std::printf("%6s  %-24s %8s  %10s  %12s\n", "group", "method", "bits/w",
              "rel.error", "MSE");

  std::vector<Result> greedyAt128;
  for (int64_t groupSize : {32, 64, 128}) {
    if (weights.cols % groupSize != 0)
      continue;
    std::vector<Result> rows = {
        measureR2Q(weights, Method::Greedy, groupSize),
        measureR2Q(weights, Method::Refined, groupSize),
        measureRoundToNearest(weights, RoundToNearestKind::MinMax, groupSize),
        measureRoundToNearest(weights, RoundToNearestKind::AbsMax, groupSize)};
    for (const Result &row : rows)
      printRow(row);
    std::printf("\n");
    if (groupSize == 128)
      greedyAt128 = rows;
  }
  if (greedyAt128.size() == 4) {
    double r2qError = greedyAt128[0].error.meanSquaredError();
    double rtnError = greedyAt128[2].error.meanSquaredError();
    std::printf("At group size 128, R2Q greedy has %.2fx %s squared error than "
                "2-bit round-to-nearest (min/max).\n",
                r2qError < rtnError ? rtnError / r2qError : r2qError / rtnError,
                r2qError < rtnError ? "less" : "MORE");
  }
  return 0;
}

} // namespace r2q::demo
