//===- LinearBench.cpp - Compiled linear layers: r2q vs float vs BLAS -----===//
//
// For Llama-7B layer shapes, SmolLM2-135M's MLP (K = 576 = 4.5 groups of 128:
// a shorter last group) and batch 1 (decoding) and 16 (prefill), times in
// one run: the float layer compiled by r2q-cpu-pipeline, the r2q layer
// (r2q-quantize-linear + r2q-cpu-pipeline), the same without the vector GEMV
// (vector-gemv=false: the linalg decoding), OpenBLAS on one thread, and the
// floor set by this machine's single-thread read bandwidth for the bytes of
// weights each must read, and dense + sparse r2q (outliers=0.005: the 0.5%
// largest weights kept as f16 corrections, their bits counted). Prints
// medians and their ratios, and checks the r2q outputs against the numerics
// core. Layer names given as arguments
// restrict the run to those layers (`r2q-bench-linear smol.up`);
// `--threads=N` compiles the r2q layers for N threads
// (r2q-cpu-pipeline{threads=N}) and gives OpenBLAS N threads (default 1; the
// float layer stays on one thread: its linalg matmul is not split). A second
// table times static batches of 1 and 4 rows on 1 and N threads: the
// default (lut_gemv, exact), strategy=vector_gemv and precision=fast. A
// third times lut_gemv at batch 1 with its constant signs in the
// row-interleaved layout (the default) and in the canonical one
// (pack-weights=false).
//
//===----------------------------------------------------------------------===//

#include "Bandwidth.h"
#include "LinearLayer.h"

#include "r2q/InitAll.h"
#include "r2q/Pipelines/Pipelines.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Runtime/HostTensor.h"
#include "r2q/Runtime/Jit.h"
#include "r2q/Runtime/ModuleStats.h"
#include "r2q/Runtime/Resources.h"
#include "r2q/Runtime/Timing.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cblas.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace r2q;

namespace {

struct Layer {
  const char *name;
  int64_t n, k;
};

std::unique_ptr<JitModule> compile(mlir::MLIRContext &context,
                                   const std::string &source,
                                   const std::vector<float> *weight,
                                   llvm::StringRef pipeline,
                                   int64_t *constantBytes) {
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, &context);
  if (!module)
    std::exit(1);
  if (weight)
    supplyFloatResources(*module, [&](mlir::DenseResourceElementsAttr,
                                      llvm::MutableArrayRef<float> values) {
      std::copy(weight->begin(), weight->end(), values.begin());
    });
  auto compiled = compileModule(*module, pipeline);
  if (!compiled) {
    llvm::errs() << toString(compiled.takeError()) << "\n";
    std::exit(1);
  }
  *constantBytes = countConstantBytes(*module);
  return std::move(*compiled);
}

/// Medians of 15 rounds of calls of @linear(x) of each module, timed in
/// turn; each module's last output in `outputs`.
template <size_t Count>
std::vector<double>
callMediansInTurn(std::unique_ptr<JitModule> (&modules)[Count],
                  StridedMemRefType<float, 2> &xDescriptor,
                  std::vector<float> (&outputs)[Count]) {
  std::vector<std::function<void()>> runs;
  for (size_t i = 0; i < Count; ++i)
    runs.push_back([&, i] {
      StridedMemRefType<float, 2> result{};
      if (llvm::Error error = modules[i]->call("linear", &result, &xDescriptor))
        std::exit(1);
      outputs[i] = HostTensor<float, 2>::adoptResult(result).data();
    });
  return interleavedMedians(runs, 15);
}

/// The table-lookup GEMV at a static batch of 1 and 4 rows, on 1 and
/// `threads` threads: the default r2q layer (r2q-cpu-pipeline chooses
/// lut_gemv, exact f32 tables), strategy=vector_gemv (the masked-FMA GEMV,
/// the exact fallback) and precision=fast (lut_gemv's int8 tables), against
/// the floor of this machine's single-thread read bandwidth.
std::string compareLutGemv(mlir::MLIRContext &context, const Layer &layer,
                           const std::vector<float> &weight,
                           const quant::PackedWeight &packed, double bandwidth,
                           int64_t threads, std::mt19937 &generator) {
  std::normal_distribution<float> normal;
  std::string rows;
  std::vector<int64_t> threadCounts = {1};
  if (threads > 1)
    threadCounts.push_back(threads);
  for (int64_t batch : {1, 4}) {
    for (int64_t t : threadCounts) {
      int64_t bytes = 0;
      std::string source = layerSource(layer.n, layer.k, true, batch);
      auto compileWith = [&](llvm::StringRef options) {
        return compile(context, source, &weight,
                       llvm::formatv("r2q-quantize-linear,r2q-cpu-pipeline{{"
                                     "threads={0}{1}}",
                                     t, options)
                           .str(),
                       &bytes);
      };
      std::unique_ptr<JitModule> modules[] = {
          compileWith(""), compileWith(" strategy=vector_gemv"),
          compileWith(" precision=fast")};
      HostTensor<float, 2> x({batch, layer.k});
      for (float &value : x.data())
        value = normal(generator);
      auto xDescriptor = x.descriptor();
      std::vector<double> expected(batch * layer.n);
      quant::referenceMatmul(x.data().data(), batch, packed, expected.data());
      std::vector<float> outputs[3];
      std::vector<double> seconds =
          callMediansInTurn(modules, xDescriptor, outputs);
      double errors[3];
      for (int i = 0; i < 3; ++i)
        errors[i] = relativeError(outputs[i], expected);
      double floor = bytes / bandwidth;
      rows += llvm::formatv(
                  "{0,-10} {1,5}x{2,-5} {3,5} {4,7} | {5,10:F3} {6,9:F3} "
                  "{7,9:F3} | {8,9:F2}x {9,9:F2}x | {10,7:F0}% {11,7:F0}% | "
                  "{12,9:E1} {13,9:E1} {14,9:E1}\n",
                  layer.name, layer.n, layer.k, batch, t, seconds[0] * 1e3,
                  seconds[1] * 1e3, seconds[2] * 1e3, seconds[1] / seconds[0],
                  seconds[1] / seconds[2], 100.0 * floor / seconds[0],
                  100.0 * floor / seconds[2], errors[0], errors[1], errors[2])
                  .str();
    }
  }
  return rows;
}

/// lut_gemv's sign layouts at a static batch of 1 row, on 1 and `threads`
/// threads: the constant weights in the row-interleaved layout (the
/// default, r2q-pack-weights) against the canonical one (pack-weights=false:
/// 16 rows transposed in registers), in exact and fast mode, timed in the
/// same interleaved rounds; the outputs of the two layouts must be
/// identical. % of bw: the canonical weight's floor (single-thread
/// bandwidth) over the time.
std::string compareLutLayouts(mlir::MLIRContext &context, const Layer &layer,
                              const std::vector<float> &weight,
                              double bandwidth, int64_t threads,
                              std::mt19937 &generator) {
  std::normal_distribution<float> normal;
  std::string rows;
  std::vector<int64_t> threadCounts = {1};
  if (threads > 1)
    threadCounts.push_back(threads);
  const char *options[] = {"", " pack-weights=false", " precision=fast",
                           " precision=fast pack-weights=false"};
  for (int64_t t : threadCounts) {
    std::string source = layerSource(layer.n, layer.k, true, 1);
    int64_t bytes[4];
    std::unique_ptr<JitModule> modules[4];
    for (int i = 0; i < 4; ++i)
      modules[i] = compile(
          context, source, &weight,
          llvm::formatv("r2q-quantize-linear,r2q-cpu-pipeline{{threads={0}{1}}",
                        t, options[i])
              .str(),
          &bytes[i]);
    HostTensor<float, 2> x({1, layer.k});
    for (float &value : x.data())
      value = normal(generator);
    auto xDescriptor = x.descriptor();
    std::vector<float> outputs[4];
    std::vector<double> seconds =
        callMediansInTurn(modules, xDescriptor, outputs);
    double floor = bytes[1] / bandwidth;
    bool identical = outputs[0] == outputs[1] && outputs[2] == outputs[3];
    rows +=
        llvm::formatv("{0,-10} {1,5}x{2,-5} {3,7} | {4,9:F3} {5,9:F3} {6,9:F3} "
                      "{7,9:F3} | {8,9:F2}x {9,9:F2}x | {10,6:F0}% {11,6:F0}% "
                      "{12,6:F0}% {13,6:F0}% | {14}\n",
                      layer.name, layer.n, layer.k, t, seconds[0] * 1e3,
                      seconds[1] * 1e3, seconds[2] * 1e3, seconds[3] * 1e3,
                      seconds[1] / seconds[0], seconds[3] / seconds[2],
                      100.0 * floor / seconds[0], 100.0 * floor / seconds[1],
                      100.0 * floor / seconds[2], 100.0 * floor / seconds[3],
                      identical ? "identical" : "DIFFERENT")
            .str();
  }
  return rows;
}

/// Prints compareLutLayouts' rows under their header.
void printLutLayouts(const std::string &rows) {
  std::printf(
      "\nlut_gemv at batch 1: constant signs in the row-interleaved layout "
      "(`packed`, the default) and the canonical one (`canon`, "
      "pack-weights=false), exact and fast mode, timed in turn; %% of bw = "
      "canonical floor / time (single-thread bandwidth); layers the layout "
      "would pad by more than 1/8 (K = 576) stay canonical in both\n\n");
  std::printf("%-10s %11s %7s | %9s %9s %9s %9s | %10s %10s | %7s %7s %7s "
              "%7s | %s\n",
              "layer", "N x K", "threads", "exact ms", "canon ms", "fast ms",
              "canon ms", "exact gain", "fast gain", "exact", "canon", "fast",
              "canon", "outputs");
  std::printf("%s", rows.c_str());
}

} // namespace

/// The value of `--threads=N` among the arguments, 1 without it; the other
/// arguments are layer names.
int64_t threadsArgument(int argc, char **argv,
                        std::vector<std::string> &names) {
  int64_t threads = 1;
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef argument(argv[i]);
    if (argument.consume_front("--threads=")) {
      if (argument.getAsInteger(10, threads) || threads < 1) {
        llvm::errs() << "--threads needs a positive count\n";
        std::exit(1);
      }
    } else {
      names.push_back(argument.str());
    }
  }
  return threads;
}

int main(int argc, char **argv) {
  std::vector<std::string> names;
  const int64_t threads = threadsArgument(argc, argv, names);
  openblas_set_num_threads(static_cast<int>(threads));
  mlir::DialectRegistry registry;
  registerR2QAndUpstream(registry);
  registerJitTranslations(registry);
  mlir::MLIRContext context(registry);
  context.disableMultithreading();

  double bandwidth = bench::measureReadBandwidth();
  std::printf("r2q linear-layer benchmark: %lld thread(s) for r2q and BLAS, "
              "r2q-cpu-pipeline (batch 1: vector GEMV on the sign bits, %lld "
              "lanes; batch 16: tiled decoding), group size 128, f16 scales; "
              "single-thread read bandwidth %.1f GB/s\n",
              static_cast<long long>(threads),
              static_cast<long long>(hostVectorWidth()), bandwidth / 1e9);
  std::printf("floor = bytes of weights / bandwidth (f32: 4 B/weight; r2q: "
              "its packed constants)\n\n");
  std::printf("`r2q linalg` is r2q without the vector GEMV "
              "(r2q-cpu-pipeline{vector-gemv=false}), `+outl` r2q with "
              "outliers=0.005 (its bits per weight in `outl bpw`), from the "
              "same run\n\n");
  std::printf("%-10s %11s %5s | %9s %9s %10s %9s %9s | %9s %9s %8s | %10s "
              "%10s | %s\n",
              "layer", "N x K", "batch", "float ms", "r2q ms", "r2q linalg",
              "+outl ms", "BLAS ms", "r2q/flt", "r2q/BLAS", "outl bpw",
              "r2q/floor", "flt/floor", "check");

  const Layer layers[] = {{"attn.q", 4096, 4096},    {"mlp.up", 11008, 4096},
                          {"mlp.down", 4096, 11008}, {"l3.down", 4096, 14336},
                          {"smol.up", 1536, 576},    {"smol.down", 576, 1536}};
  auto isSelected = [&](const Layer &layer) {
    return names.empty() || llvm::is_contained(names, layer.name);
  };
  const std::string pipeline =
      llvm::formatv("r2q-cpu-pipeline{{threads={0}", threads).str();
  auto r2qPipeline = [&](llvm::StringRef quantize, llvm::StringRef extra) {
    return llvm::formatv("{0},{1}{2}}", quantize, pipeline, extra).str();
  };
  std::mt19937 generator(11);
  std::normal_distribution<float> normal;
  std::string lutTable, layoutTable;
  for (const Layer &layer : layers) {
    if (!isSelected(layer))
      continue;
    const int64_t n = layer.n, k = layer.k;
    std::vector<float> weight(n * k), transposed(n * k);
    for (float &value : weight)
      value = 0.02f * normal(generator);
    for (int64_t row = 0; row < n; ++row)
      for (int64_t col = 0; col < k; ++col)
        transposed[col * n + row] = weight[row * k + col];

    int64_t r2qBytes = 0, floatBytes = 0;
    auto r2qLayer =
        compile(context, layerSource(n, k, /*constantWeight=*/true), &weight,
                r2qPipeline("r2q-quantize-linear", ""), &r2qBytes);
    int64_t linalgBytes = 0;
    auto linalgLayer = compile(
        context, layerSource(n, k, /*constantWeight=*/true), &weight,
        r2qPipeline("r2q-quantize-linear", " vector-gemv=false"), &linalgBytes);
    int64_t outlierBytes = 0;
    auto outlierLayer = compile(
        context, layerSource(n, k, /*constantWeight=*/true), &weight,
        r2qPipeline("r2q-quantize-linear{outliers=0.005}", ""), &outlierBytes);
    auto floatLayer =
        compile(context, layerSource(n, k, /*constantWeight=*/false), nullptr,
                "r2q-cpu-pipeline", &floatBytes);
    // With several threads, the r2q layer on one thread too, for a speedup
    // measured in the same moments.
    int64_t oneThreadBytes = 0;
    std::unique_ptr<JitModule> oneThreadLayer;
    if (threads > 1)
      oneThreadLayer = compile(
          context, layerSource(n, k, /*constantWeight=*/true), &weight,
          "r2q-quantize-linear,r2q-cpu-pipeline{threads=1}", &oneThreadBytes);
    quant::PackedWeight packed, packedWithOutliers;
    quant::Scheme outlierScheme;
    outlierScheme.outliers.fraction = 0.005;
    auto weightView = quant::MatrixView::ofFloats(weight.data(), n, k);
    if (!quant::quantize(weightView, quant::Scheme{}, packed).ok() ||
        !quant::quantize(weightView, outlierScheme, packedWithOutliers).ok())
      return 1;

    lutTable += compareLutGemv(context, layer, weight, packed, bandwidth,
                               threads, generator);
    layoutTable += compareLutLayouts(context, layer, weight, bandwidth, threads,
                                     generator);
    for (int64_t batch : {1, 16}) {
      HostTensor<float, 2> x({batch, k});
      for (float &value : x.data())
        value = normal(generator);
      HostTensor<float, 2> w({k, n});
      w.data() = transposed;
      auto xDescriptor = x.descriptor();
      auto wDescriptor = w.descriptor();
      std::vector<float> r2qOutput, linalgOutput, outlierOutput;
      auto runner = [&](JitModule &layer, std::vector<float> &output) {
        return [&] {
          StridedMemRefType<float, 2> result{};
          if (llvm::Error error = layer.call("linear", &result, &xDescriptor))
            std::exit(1);
          output = HostTensor<float, 2>::adoptResult(result).data();
        };
      };
      auto runFloat = [&] {
        StridedMemRefType<float, 2> result{};
        if (llvm::Error error =
                floatLayer->call("linear", &result, &xDescriptor, &wDescriptor))
          std::exit(1);
        HostTensor<float, 2>::adoptResult(result);
      };
      std::vector<float> blasOutput(batch * n);
      auto runBlas = [&] {
        if (batch == 1)
          cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, weight.data(), k,
                      x.data().data(), 1, 0.0f, blasOutput.data(), 1);
        else
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, n, k,
                      1.0f, x.data().data(), k, weight.data(), k, 0.0f,
                      blasOutput.data(), n);
      };
      double floatSeconds = medianSeconds(runFloat, 9);
      double r2qSeconds = medianSeconds(runner(*r2qLayer, r2qOutput), 9);
      double linalgSeconds =
          medianSeconds(runner(*linalgLayer, linalgOutput), 9);
      double outlierSeconds =
          medianSeconds(runner(*outlierLayer, outlierOutput), 9);
      double blasSeconds = medianSeconds(runBlas, 9);

      std::vector<double> expected(batch * n), expectedOutliers(batch * n);
      quant::referenceMatmul(x.data().data(), batch, packed, expected.data());
      quant::referenceMatmul(x.data().data(), batch, packedWithOutliers,
                             expectedOutliers.data());
      double worst = 0, scale = 0;
      for (size_t i = 0; i < expected.size(); ++i) {
        worst = std::max({worst, std::fabs(r2qOutput[i] - expected[i]),
                          std::fabs(linalgOutput[i] - expected[i]),
                          std::fabs(outlierOutput[i] - expectedOutliers[i])});
        scale = std::max(scale, std::fabs(expected[i]));
      }
      double r2qFloor = r2qBytes / bandwidth;
      double floatFloor = 4.0 * n * k / bandwidth;
      std::printf(
          "%-10s %5lldx%-5lld %5lld | %9.3f %9.3f %10.3f %9.3f %9.3f | %8.2fx "
          "%8.2fx %8.3f | %9.1fx %9.1fx | %s\n",
          layer.name, static_cast<long long>(n), static_cast<long long>(k),
          static_cast<long long>(batch), floatSeconds * 1e3, r2qSeconds * 1e3,
          linalgSeconds * 1e3, outlierSeconds * 1e3, blasSeconds * 1e3,
          r2qSeconds / floatSeconds, r2qSeconds / blasSeconds,
          8.0 * outlierBytes / (n * k), r2qSeconds / r2qFloor,
          floatSeconds / floatFloor, worst <= 1e-5 * scale ? "ok" : "MISMATCH");
      if (oneThreadLayer) {
        std::vector<float> oneThreadOutput;
        std::vector<double> medians =
            interleavedMedians({runner(*oneThreadLayer, oneThreadOutput),
                                runner(*r2qLayer, r2qOutput)},
                               15);
        double one = medians[0], many = medians[1];
        std::printf("%-10s %11s %5lld | r2q on 1 thread %.3f ms, on %lld "
                    "threads %.3f ms (interleaved): %.2fx faster, outputs %s\n",
                    layer.name, "", static_cast<long long>(batch), one * 1e3,
                    static_cast<long long>(threads), many * 1e3, one / many,
                    oneThreadOutput == r2qOutput ? "identical" : "DIFFERENT");
      }
    }
  }
  std::printf(
      "\nstatic batch of 1-8 rows: `default` is r2q-cpu-pipeline's "
      "choice (lut_gemv, exact f32 tables), `gemv` strategy=vector_gemv "
      "(masked FMAs, the exact fallback), `fast` precision=fast "
      "(lut_gemv, int8 tables), timed call by call in turn; %% of bw = "
      "floor / time (single-thread bandwidth); errors: max |y - core| / "
      "max |core|\n\n");
  std::printf("%-10s %11s %5s %7s | %10s %9s %9s | %10s %10s | %8s %8s | "
              "%9s %9s %9s\n",
              "layer", "N x K", "batch", "threads", "default ms", "gemv ms",
              "fast ms", "gemv/dflt", "gemv/fast", "dflt bw", "fast bw",
              "dflt err", "gemv err", "fast err");
  std::printf("%s", lutTable.c_str());
  printLutLayouts(layoutTable);
  return 0;
}
