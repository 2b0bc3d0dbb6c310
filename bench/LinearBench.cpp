//===- LinearBench.cpp - Compiled linear layers: r2q vs float vs BLAS -----===//
//
// r2q-bench-linear: for Llama layer shapes (N x K: 4096x4096, 4096x14336,
// 14336x4096, 11008x4096), static batches of 1, 4, 16 and 128 rows, on 1
// thread and on all hardware threads, times in one run:
//   - r2q: the layer after r2q-quantize-linear (group size 128, f16 scales)
//     through r2q-cpu-pipeline{threads=T} (exact, the default);
//   - fast: the same with precision=fast;
//   - avx2, avx2 fast: both compiled for an AVX2-only CPU (target features
//     on the pipeline and on the JIT's target machine), at batch 1 and 16;
//   - float: the float layer (its weight a K x N argument) through
//     r2q-cpu-pipeline{threads=T};
//   - BLAS: OpenBLAS on T threads, sgemv at batch 1, sgemm otherwise;
// the read bandwidth of T threads measured by this program, r2q's effective
// bandwidth (its packed bytes over its time) as a percentage of it, and the
// ratios. Before every timed call the caches are emptied (ColdTiming.h: no
// weights in the last-level cache); each measurement takes calls until a
// time budget is spent (at least 3, medians). Every r2q output is checked
// against the numerics core: the exact ones to 1e-5 of the largest output,
// the fast ones by their RMS error (printed; flagged above the 4% that
// their execution tests allow); float against BLAS to 1e-4.
//
//   r2q-bench-linear [LAYER...] [--batches=1,4,16,128] [--threads=1,N]
//                    [--budget=SECONDS]
//
// LAYER restricts the run to those layers (attn.q, l3.down, l3.up, mlp.up:
// the default table; also mlp.down, smol.up, smol.down) or shapes (NxK, N
// output features and K input features, e.g. 16x14336: a probe of the
// per-call costs that do not grow with N); --threads lists
// the thread counts (default 1 and the host's hardware threads); --budget
// is the time per measurement (default 0.4 s, evictions included).
//
//===----------------------------------------------------------------------===//

#include "Bandwidth.h"
#include "ColdTiming.h"
#include "LinearLayer.h"

#include "r2q/InitAll.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"
#include "r2q/Runtime/ModuleStats.h"
#include "r2q/Runtime/Resources.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/TargetParser/Host.h"

#include <cblas.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace r2q;

namespace {

struct Layer {
  std::string name;
  int64_t n, k;
  /// In the table when no layer is named.
  bool byDefault;
};

const Layer kLayers[] = {
    {"attn.q", 4096, 4096, true},     // Llama-2-7B / Llama-3-8B q and o
    {"l3.down", 4096, 14336, true},   // Llama-3-8B down projection
    {"l3.up", 14336, 4096, true},     // Llama-3-8B gate and up projections
    {"mlp.up", 11008, 4096, true},    // Llama-2-7B gate and up projections
    {"mlp.down", 4096, 11008, false}, // Llama-2-7B down projection
    {"smol.up", 1536, 576, false},    // SmolLM2-135M: a shorter last group
    {"smol.down", 576, 1536, false},
};

/// An AVX2-only CPU (x86-64-v3: Haswell, Zen 1-3), in LLVM feature syntax.
constexpr const char *kAvx2Features =
    "+avx2,+fma,+f16c,+bmi,+bmi2,+lzcnt,+movbe,+popcnt";
/// The batches the AVX2-only code is timed at.
constexpr int64_t kAvx2Batches[] = {1, 16};
/// The fast modes' error that is flagged: the RMS of the error over the RMS
/// of the outputs that their execution tests allow (docs/rationale.md).
constexpr double kFastRelativeRms = 0.04;
/// libomp's workers spin for 200 ms after a parallel region
/// (KMP_BLOCKTIME), OpenBLAS's for up to 2^28 cycles (about 0.1 s): waited
/// out between the two runtimes so that neither times the other's spinning.
constexpr auto kSpinWait = std::chrono::milliseconds(300);

constexpr const char *kProgram = "r2q-bench-linear";

[[noreturn]] void fail(const llvm::Twine &message) {
  exitWithError(kProgram, message);
}

/// A named layer of kLayers, or N x K from "NxK" (e.g. 16x14336).
std::optional<Layer> parseLayer(llvm::StringRef argument) {
  for (const Layer &layer : kLayers)
    if (argument == layer.name)
      return layer;
  auto [rows, columns] = argument.split('x');
  int64_t n = 0, k = 0;
  if (rows.getAsInteger(10, n) || columns.getAsInteger(10, k) || n <= 0 ||
      k <= 0)
    return std::nullopt;
  return Layer{argument.str(), n, k, false};
}

struct Arguments {
  /// The layers named on the command line; empty: the default ones.
  std::vector<Layer> layers;
  std::vector<int64_t> batches = {1, 4, 16, 128};
  std::vector<int64_t> threads;
  bench::CallBudget budget;
};

Arguments parseArguments(int argc, char **argv) {
  Arguments arguments;
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef argument(argv[i]);
    if (argument.consume_front("--batches=")) {
      arguments.batches = positiveIntegers(kProgram, argument, ',');
    } else if (argument.consume_front("--threads=")) {
      arguments.threads = positiveIntegers(kProgram, argument, ',');
    } else if (argument.consume_front("--budget=")) {
      if (argument.getAsDouble(arguments.budget.seconds) ||
          arguments.budget.seconds < 0)
        fail("--budget needs seconds, not '" + argument + "'");
    } else if (std::optional<Layer> layer = parseLayer(argument)) {
      arguments.layers.push_back(*layer);
    } else {
      fail("unknown argument '" + argument + "'");
    }
  }
  if (arguments.layers.empty())
    llvm::copy_if(kLayers, std::back_inserter(arguments.layers),
                  [](const Layer &layer) { return layer.byDefault; });
  if (arguments.threads.empty()) {
    arguments.threads = {1};
    int64_t all = std::max(1u, std::thread::hardware_concurrency());
    if (all > 1)
      arguments.threads.push_back(all);
  }
  return arguments;
}

/// The layer with `weight` (N x K) and a static batch, after
/// r2q-quantize-linear: compiled several ways, quantized once.
mlir::OwningOpRef<mlir::ModuleOp>
quantizedLayer(mlir::MLIRContext &context, const Layer &layer,
               const std::vector<float> &weight, int64_t batch) {
  return quantizedLayerModule(kProgram, context, layer.n, layer.k, weight,
                              batch);
}

/// A compiled layer and the bytes of its constants (r2q: packed weights).
struct Compiled {
  std::unique_ptr<JitModule> module;
  int64_t constantBytes = 0;
};

Compiled compile(mlir::ModuleOp module, int64_t threads,
                 llvm::StringRef options, const JitTarget &target = {}) {
  mlir::OwningOpRef<mlir::ModuleOp> copy = module.clone();
  std::string pipeline =
      llvm::formatv("r2q-cpu-pipeline{{threads={0}{1}}", threads, options);
  auto compiled = compileModule(*copy, pipeline, target);
  if (!compiled)
    fail("compiling with " + pipeline + ": " + toString(compiled.takeError()));
  return {std::move(*compiled), countConstantBytes(*copy)};
}

/// Calls of a compiled function returning a batch x N memref: each call's
/// result is freed by release() (untimed, before the next call), the last
/// one becomes the output.
class LayerCalls {
public:
  using Invoke = std::function<llvm::Error(StridedMemRefType<float, 2> *)>;
  explicit LayerCalls(Invoke invoke) : invoke_(std::move(invoke)) {}
  ~LayerCalls() { release(); }

  void call() {
    release();
    if (llvm::Error error = invoke_(&result_))
      fail("calling the layer: " + toString(std::move(error)));
  }
  void release() {
    std::free(result_.basePtr);
    result_ = {};
  }
  std::vector<float> output() {
    return HostTensor<float, 2>::adoptResult(result_).data();
  }

private:
  Invoke invoke_;
  StridedMemRefType<float, 2> result_{};
};

/// A layer's weights and inputs, and what it is measured with.
struct Bench {
  const Layer &layer;
  std::vector<float> weight;       // N x K (r2q, BLAS)
  HostTensor<float, 2> transposed; // K x N (the float layer's argument)
  quant::PackedWeight packed;      // by the numerics core
  bench::CacheEvictor &evictor;
  const bench::CallBudget &budget;
  const bench::ReadBandwidthProbe &bandwidthProbe;
};

/// One row of the table: a layer at one batch and thread count.
struct Row {
  int64_t batch, threads;
  HostTensor<float, 2> x;
  std::vector<double> expected; // the numerics core's output
  /// Read bandwidth of `threads` threads, measured just before the row.
  double bandwidth;
};

/// The median time of `calls` with the caches emptied before each call and
/// the activations read again (only the weights are cold).
double coldMedian(const Bench &bench, const Row &row,
                  const std::function<void()> &call,
                  const std::function<void()> &release) {
  auto prepare = [&] {
    release();
    bench.evictor.evict(static_cast<int>(row.threads));
    volatile float sink =
        bench::sumAsStreams(row.x.data().data(), row.x.data().size());
    (void)sink;
  };
  return bench::medianOfPreparedCalls(call, prepare, bench.budget);
}

struct Timed {
  double seconds = NAN;
  std::vector<float> output;
};

/// Times the r2q layer compiled with `options` (for `target`).
Timed timeR2Q(const Bench &bench, Row &row, mlir::ModuleOp quantized,
              llvm::StringRef options, const JitTarget &target = {},
              int64_t *constantBytes = nullptr) {
  Compiled compiled = compile(quantized, row.threads, options, target);
  if (constantBytes)
    *constantBytes = compiled.constantBytes;
  auto xDescriptor = row.x.descriptor();
  LayerCalls calls([&](StridedMemRefType<float, 2> *result) {
    return compiled.module->call("linear", result, &xDescriptor);
  });
  double seconds =
      coldMedian(bench, row, [&] { calls.call(); }, [&] { calls.release(); });
  return {seconds, calls.output()};
}

/// Times the float layer (dynamic batch, the weight an argument).
Timed timeFloat(Bench &bench, Row &row, JitModule &floatLayer) {
  auto xDescriptor = row.x.descriptor();
  auto wDescriptor = bench.transposed.descriptor();
  LayerCalls calls([&](StridedMemRefType<float, 2> *result) {
    return floatLayer.call("linear", result, &xDescriptor, &wDescriptor);
  });
  double seconds =
      coldMedian(bench, row, [&] { calls.call(); }, [&] { calls.release(); });
  return {seconds, calls.output()};
}

/// Times OpenBLAS on the row's threads.
Timed timeBlas(const Bench &bench, Row &row) {
  const int64_t n = bench.layer.n, k = bench.layer.k, batch = row.batch;
  openblas_set_num_threads(static_cast<int>(row.threads));
  std::vector<float> output(batch * n);
  auto call = [&] {
    if (batch == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, bench.weight.data(),
                  k, row.x.data().data(), 1, 0.0f, output.data(), 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, n, k, 1.0f,
                  row.x.data().data(), k, bench.weight.data(), k, 0.0f,
                  output.data(), n);
  };
  double seconds = coldMedian(bench, row, call, [] {});
  return {seconds, output};
}

/// RMS of output - expected over RMS of expected.
double relativeRms(const std::vector<float> &output,
                   const std::vector<double> &expected) {
  double error = 0, norm = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    error += (output[i] - expected[i]) * (output[i] - expected[i]);
    norm += expected[i] * expected[i];
  }
  return std::sqrt(error / norm);
}

std::string milliseconds(const Timed &timed) {
  return std::isnan(timed.seconds)
             ? "-"
             : llvm::formatv("{0:F3}", timed.seconds * 1e3).str();
}

/// Every time of one row.
struct RowTimes {
  Timed r2q, fast, avx2, avx2Fast, floatLayer, blas;
  /// Constant bytes of the exact and fast modules (packed weights).
  int64_t r2qBytes = 0, fastBytes = 0;
};

RowTimes timeRow(Bench &bench, Row &row, mlir::ModuleOp quantized,
                 JitModule &floatLayer) {
  RowTimes times;
  times.r2q = timeR2Q(bench, row, quantized, "", {}, &times.r2qBytes);
  times.fast =
      timeR2Q(bench, row, quantized, " precision=fast", {}, &times.fastBytes);
  if (llvm::is_contained(kAvx2Batches, row.batch) &&
      llvm::sys::getHostCPUFeatures().lookup("avx2")) {
    std::string features = std::string(" target-features=") + kAvx2Features;
    times.avx2 = timeR2Q(bench, row, quantized, features, {kAvx2Features});
    times.avx2Fast = timeR2Q(bench, row, quantized,
                             features + " precision=fast", {kAvx2Features});
  }
  times.floatLayer = timeFloat(bench, row, floatLayer);
  if (row.threads > 1)
    std::this_thread::sleep_for(kSpinWait);
  times.blas = timeBlas(bench, row);
  if (row.threads > 1)
    std::this_thread::sleep_for(kSpinWait);
  return times;
}

/// The names of the outputs that fail their check (none when all pass).
std::vector<std::string> failedChecks(const RowTimes &times, const Row &row) {
  std::vector<std::string> failed;
  auto checkExact = [&](const char *name, const Timed &timed) {
    if (!timed.output.empty() &&
        !(relativeError(timed.output, row.expected) <= 1e-5))
      failed.push_back(name);
  };
  auto checkFast = [&](const char *name, const Timed &timed) {
    if (!timed.output.empty() &&
        !(relativeRms(timed.output, row.expected) <= kFastRelativeRms))
      failed.push_back(name);
  };
  checkExact("r2q", times.r2q);
  checkExact("avx2", times.avx2);
  checkFast("fast", times.fast);
  checkFast("avx2-fast", times.avx2Fast);
  std::vector<double> blas(times.blas.output.begin(), times.blas.output.end());
  if (!(relativeError(times.floatLayer.output, blas) <= 1e-4))
    failed.push_back("float");
  return failed;
}

/// Measures and prints one row; returns whether every check passed.
bool measureRow(Bench &bench, Row &row, mlir::ModuleOp quantized,
                JitModule &floatLayer) {
  RowTimes t = timeRow(bench, row, quantized, floatLayer);
  std::vector<std::string> failed = failedChecks(t, row);
  std::string check =
      failed.empty() ? "ok" : "MISMATCH " + llvm::join(failed, ",");
  auto percentOfBandwidth = [&](int64_t bytes, const Timed &timed) {
    return 100.0 * bytes / timed.seconds / row.bandwidth;
  };
  std::printf(
      "%-9s %5lldx%-5lld %5lld %3lld | %8.3f %8.3f %8s %8s %9.3f %8.3f | "
      "%6.1f %5.0f%% %5.0f%% | %7.2fx %7.2fx %7.2fx | %8.1E  %s\n",
      bench.layer.name.c_str(), static_cast<long long>(bench.layer.n),
      static_cast<long long>(bench.layer.k), static_cast<long long>(row.batch),
      static_cast<long long>(row.threads), t.r2q.seconds * 1e3,
      t.fast.seconds * 1e3, milliseconds(t.avx2).c_str(),
      milliseconds(t.avx2Fast).c_str(), t.floatLayer.seconds * 1e3,
      t.blas.seconds * 1e3, row.bandwidth / 1e9,
      percentOfBandwidth(t.r2qBytes, t.r2q),
      percentOfBandwidth(t.fastBytes, t.fast),
      t.r2q.seconds / t.floatLayer.seconds, t.r2q.seconds / t.blas.seconds,
      t.fast.seconds / t.blas.seconds, relativeRms(t.fast.output, row.expected),
      check.c_str());
  std::fflush(stdout);
  return failed.empty();
}

void printHeader(const Arguments &arguments,
                 const bench::ReadBandwidthProbe &bandwidthProbe,
                 const bench::CacheEvictor &evictor, size_t cacheBytes) {
  std::printf("r2q linear-layer benchmark: r2q = r2q-quantize-linear (2 "
              "planes, group size 128, f16 scales: 2.25 bits/weight) + "
              "r2q-cpu-pipeline{threads=T}, static batch; OpenBLAS %s\n",
              openblas_get_config());
  std::printf("cold weights: before every timed call the caches are emptied "
              "by reading %zu MiB (%.0fx the %zu MiB last-level cache) on T "
              "threads; medians of at least %d calls within %.2f s per "
              "measurement\n",
              evictor.bytes() >> 20, double(evictor.bytes()) / cacheBytes,
              cacheBytes >> 20, arguments.budget.minCalls,
              arguments.budget.seconds);
  std::printf("read bandwidth of T threads (this program, the best of 5 "
              "passes over 512 MiB; bw GB/s: of 3 passes before each row):");
  for (int64_t threads : arguments.threads)
    std::printf(" T=%lld %.1f GB/s", static_cast<long long>(threads),
                bandwidthProbe.measure(static_cast<int>(threads)) / 1e9);
  std::printf("\nthreads: OMP_PROC_BIND=%s (this program's own threads "
              "bound the same way where OpenMP's are)",
              std::getenv("OMP_PROC_BIND"));
  std::printf("\nfast = precision=fast; avx2 = compiled for an AVX2-only CPU "
              "(%s), batches 1 and 16; float = the float layer through "
              "r2q-cpu-pipeline{threads=T}; BLAS = sgemv (batch 1) / sgemm "
              "on T threads\n",
              kAvx2Features);
  std::printf("%%bw = packed bytes / time over the read bandwidth of T "
              "threads; ratios are times (below 1: r2q faster); fast err = "
              "RMS(fast - core) / RMS(core)\n\n");
  std::printf("%-9s %11s %5s %3s | %8s %8s %8s %8s %9s %8s | %6s %6s %6s | "
              "%8s %8s %8s | %8s  %s\n",
              "layer", "N x K", "batch", "T", "r2q ms", "fast ms", "avx2 ms",
              "avx2f ms", "float ms", "BLAS ms", "bw GB/s", "r2q%", "fast%",
              "r2q/flt", "r2q/BLAS", "fast/BLAS", "fast err", "check");
}

std::vector<float> gaussian(size_t count, float scale,
                            std::mt19937 &generator) {
  std::normal_distribution<float> normal;
  std::vector<float> values(count);
  for (float &value : values)
    value = scale * normal(generator);
  return values;
}

/// Every row of one layer; returns whether every check passed.
bool benchLayer(const mlir::DialectRegistry &registry, Bench &bench,
                const Arguments &arguments, std::mt19937 &generator) {
  // A context of its own: the f32 weights supplied to each batch's module
  // stay in the context's resources until it is destroyed.
  mlir::MLIRContext context(registry);
  context.disableMultithreading();
  const int64_t n = bench.layer.n, k = bench.layer.k;
  for (int64_t row = 0; row < n; ++row)
    for (int64_t col = 0; col < k; ++col)
      bench.transposed.data()[col * n + row] = bench.weight[row * k + col];
  if (!quant::quantize(quant::MatrixView::ofFloats(bench.weight.data(), n, k),
                       quant::Scheme{}, bench.packed)
           .ok())
    fail("the numerics core cannot quantize the weight");
  auto floatSource = mlir::parseSourceString<mlir::ModuleOp>(
      layerSource(n, k, /*constantWeight=*/false), &context);
  std::map<int64_t, Compiled> floatLayers;
  for (int64_t threads : arguments.threads)
    floatLayers[threads] = compile(*floatSource, threads, "");
  bool ok = true;
  for (int64_t batch : arguments.batches) {
    auto quantized = quantizedLayer(context, bench.layer, bench.weight, batch);
    for (int64_t threads : arguments.threads) {
      Row row{batch, threads, HostTensor<float, 2>({batch, k}),
              std::vector<double>(batch * n),
              bench.bandwidthProbe.measure(static_cast<int>(threads), 3)};
      row.x.data() = gaussian(batch * k, 1.0f, generator);
      quant::referenceMatmul(row.x.data().data(), batch, bench.packed,
                             row.expected.data());
      ok &= measureRow(bench, row, *quantized, *floatLayers[threads].module);
    }
  }
  return ok;
}

} // namespace

int main(int argc, char **argv) {
  bench::bindOpenMPThreads();
  const Arguments arguments = parseArguments(argc, argv);
  mlir::DialectRegistry registry;
  registerR2QAndUpstream(registry);
  registerJitTranslations(registry);

  const bench::ReadBandwidthProbe bandwidthProbe;
  const size_t cacheBytes = bench::lastLevelCacheBytes();
  bench::CacheEvictor evictor(4 * cacheBytes);
  printHeader(arguments, bandwidthProbe, evictor, cacheBytes);

  std::mt19937 generator(11);
  bool ok = true;
  for (const Layer &layer : arguments.layers) {
    Bench bench{layer,
                gaussian(layer.n * layer.k, 0.02f, generator),
                HostTensor<float, 2>({layer.k, layer.n}),
                {},
                evictor,
                arguments.budget,
                bandwidthProbe};
    ok &= benchLayer(registry, bench, arguments, generator);
  }
  return ok ? 0 : 1;
}
