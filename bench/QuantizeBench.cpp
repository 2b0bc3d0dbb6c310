//===- QuantizeBench.cpp - How fast the numerics core quantizes -----------===//
//
// Quantizes Llama-7B-shaped weight matrices with every method and prints the
// throughput in weights per second, the ratio to the time it takes just to
// read the weights from memory once, and the time a 7B model's 6.5 G linear
// weights would take.
//
//===----------------------------------------------------------------------===//

#include "Bandwidth.h"

#include "r2q/Quant/Parallel.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/RoundToNearest.h"
#include "r2q/Runtime/Timing.h"

#include <cstdio>
#include <random>
#include <thread>

using namespace r2q;
using namespace r2q::quant;

int main() {
  const int64_t rows = 11008, cols = 4096;
  std::vector<float> weights(rows * cols);
  std::mt19937 generator(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (float &weight : weights)
    weight = normal(generator);
  MatrixView view = MatrixView::ofFloats(weights.data(), rows, cols);
  const double weightCount = double(rows) * cols;
  const unsigned threads = resolveThreadCount(0);

  double bandwidth = bench::measureReadBandwidth();
  double readSeconds = weightCount * sizeof(float) / bandwidth;
  std::printf("r2q quantize benchmark: %lld x %lld f32 weights (%.0f MB), %u "
              "threads; single-thread read bandwidth %.1f GB/s (%.2f ms to "
              "read the weights once)\n\n",
              static_cast<long long>(rows), static_cast<long long>(cols),
              weightCount * 4 / 1e6, threads, bandwidth / 1e9,
              readSeconds * 1e3);
  std::printf("%-28s %10s %14s %12s %14s\n", "method", "ms", "Mweights/s",
              "x read time", "7B (6.5 G) s");

  auto report = [&](const char *name, double seconds) {
    std::printf("%-28s %10.1f %14.0f %12.1f %14.1f\n", name, seconds * 1e3,
                weightCount / seconds / 1e6, seconds / readSeconds,
                6.5e9 / weightCount * seconds);
  };
  for (auto [name, method, planes] :
       {std::tuple{"R2Q greedy, 2 planes", Method::Greedy, 2},
        std::tuple{"R2Q greedy, 4 planes", Method::Greedy, 4},
        std::tuple{"R2Q refined, 2 planes", Method::Refined, 2}}) {
    Scheme scheme{128, planes, method, FloatType::F16};
    PackedWeight packed;
    report(name, medianSeconds(
                     [&] {
                       if (!quantize(view, scheme, packed).ok())
                         std::abort();
                     },
                     /*repetitions=*/method == Method::Refined ? 3 : 7,
                     /*warmup=*/1));
  }
  std::vector<float> reconstruction(weights.size());
  report("RTN min/max (baseline)",
         medianSeconds(
             [&] {
               if (!roundToNearest(view, 128, 2, RoundToNearestKind::MinMax,
                                   reconstruction.data())
                        .ok())
                 std::abort();
             },
             5, 1));
  return 0;
}
