//===- GpuBench.cpp - r2q's GPU kernels: checks and benchmark -------------===//
//
// r2q-gpu-bench runs the r2q.matmul functions of kernels.mlir, compiled
// ahead of time by r2q-gpu-pipeline into this executable (their kernels in an
// embedded fatbin), on the GPU through libr2q_cuda_runtime:
//
//   r2q-gpu-bench check [NAME...]
//                         the ragged cases (odd batches, N not a multiple of
//                         a block's rows, K with a tail, group sizes 8 to
//                         256, 1-4 planes, f32/f16/bf16 inputs) against the
//                         numerics core on fresh random data: the exact
//                         kernels to 1e-5 of sum |x w|, mma_gemm (f16
//                         tiles) within its rounding bound (docs/gpu.md);
//                         and functions whose weight is a constant of the
//                         module (check_k*), each called twice (the first
//                         call copies the weight to the device);
//   r2q-gpu-bench bounds [NAME...]
//                         the same cases (bounds_* for check_*) compiled with
//                         r2q-gpu-pipeline{check-bounds=true}: a kernel's
//                         access outside its buffer stops it with a device
//                         assert that names the access (docs/gpu.md);
//   r2q-gpu-bench bench [NAME...]
//                         the benchmark shapes at batch 1, 4, 16 and 128:
//                         kernel time (CUDA events around each launch, the
//                         sum over a call's launches, the median of many,
//                         weights rotated through copies that together
//                         exceed the L2 many times), the effective bandwidth
//                         of the packed weight, the device-to-device copy
//                         bandwidth of the same run, TFLOP/s (2 M N K), and
//                         the median wall-clock time of a whole call (what
//                         its caller waits for: allocation, launches,
//                         stream synchronization); and 64 of each case's
//                         outputs (the first, the last, random ones)
//                         against the numerics core, as the checks do.
//
// With NAMEs, only the cases whose names contain one of them run (a rerun of
// a few kernels on a GPU lent for minutes: `bench _bytes b16`); with --after
// NAME, only those after case NAME.
//
// A case whose call meets a CUDA error prints it (ERROR: ...) and the next
// case runs, unless the error lost the GPU context (a kernel's fault, after
// which every call of the process fails): then the harness says after
// which case and exits with status 3, and scripts/gpu-check.sh runs it
// again with --after that case. Outputs that miss their bound are described
// below the case's line (how many, zeros, values not finite, got / want, which
// rows and features, the first few), so that one run's log can be enough to
// find a kernel's bug after the GPU is gone. Exit status: 0 when everything ran
// and matched, 1 on a mismatch or error, 3 when the GPU context was lost,
// 77 when there is no GPU (with the reason).
//
//===----------------------------------------------------------------------===//

#include "r2q/Quant/FloatFormats.h"
#include "r2q/Quant/InterleavedWeight.h"
#include "r2q/Quant/R2Q.h"
#include "r2q/Quant/Reference.h"
#include "r2q/Runtime/CudaRuntime.h"

#include "LaunchReport.h"
#include "OutputCheck.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct KernelCase {
  const char *name;
  int64_t m, n, k, groupSize;
  int planes;
  const char *input, *scales;
  const char *strategy; // the kernel that runs (written or chosen)
  bool interleaved;     // the weight in the row-interleaved layout
  bool outliers;        // the function takes outlier operands
  bool constantWeight;  // the weight is a constant of the module
  /// _mlir_ciface_<name>(result, x, signs, scales[, offsets, columns,
  /// values]), or (result, x) for a constant weight: every argument a
  /// memref descriptor.
  void *function;
};

#include "kernels.inc"

/// A ranked memref descriptor as MLIR's C interface passes it.
template <int Rank> struct Descriptor {
  void *allocated = nullptr, *aligned = nullptr;
  int64_t offset = 0, sizes[Rank] = {}, strides[Rank] = {};

  static Descriptor of(void *data, std::array<int64_t, Rank> shape) {
    Descriptor d;
    d.allocated = d.aligned = data;
    int64_t stride = 1;
    for (int dim = Rank - 1; dim >= 0; --dim) {
      d.sizes[dim] = shape[dim];
      d.strides[dim] = stride;
      stride *= shape[dim];
    }
    return d;
  }
};

[[noreturn]] void fail(const std::string &what) {
  std::fprintf(stderr, "r2q-gpu-bench: %s: %s\n", what.c_str(),
               r2qCudaLastError());
  std::exit(1);
}

void check(int status, const std::string &what) {
  if (status != 0)
    fail(what);
}

/// Device memory holding `bytes` copied from the host.
void *upload(const void *data, size_t bytes) {
  void *device = nullptr;
  check(r2qCudaMalloc(&device, bytes), "cuMemAlloc");
  check(r2qCudaCopyToDevice(device, data, bytes), "copy to device");
  return device;
}

// Launch timing: the compiled host code calls mgpuLaunchKernel; this
// definition (the executable's, so it takes precedence over the library's)
// records the launch where asked (recordingLaunches) and brackets the
// library's with timing events on the launch's stream.
bool timingLaunches = false;
std::vector<std::pair<void *, void *>> launchEvents;

/// The launches of one call of a bench case, recorded to be described
/// below its line (r2q::bench::describeLaunches).
bool recordingLaunches = false;
std::vector<r2q::bench::Launch> recordedLaunches;

} // namespace

extern "C" void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                                 intptr_t gridZ, intptr_t blockX,
                                 intptr_t blockY, intptr_t blockZ, int32_t smem,
                                 void *stream, void **params, void **extra,
                                 size_t paramsCount) {
  if (recordingLaunches)
    recordedLaunches.push_back(
        {function, {gridX, gridY, gridZ}, {blockX, blockY, blockZ}, smem});
  // Events around the launch where they can be made: after a kernel's
  // fault they cannot, and the launch's own failure goes to run()'s error
  // scope (the case's ERROR line), not an exit here.
  void *start = nullptr, *end = nullptr;
  bool timed = timingLaunches && r2qCudaTimingEventCreate(&start) == 0 &&
               r2qCudaTimingEventCreate(&end) == 0 &&
               r2qCudaEventRecord(start, stream) == 0;
  // The library's own entry point (its failures go to run()'s error scope).
  static const auto launch = reinterpret_cast<decltype(&mgpuLaunchKernel)>(
      dlsym(RTLD_NEXT, "mgpuLaunchKernel"));
  launch(function, gridX, gridY, gridZ, blockX, blockY, blockZ, smem, stream,
         params, extra, paramsCount);
  if (timed && r2qCudaEventRecord(end, stream) == 0) {
    launchEvents.push_back({start, end});
    return;
  }
  for (void *event : {start, end})
    if (event)
      r2qCudaEventDestroy(event);
}

namespace {

using r2q::quant::FloatType;

FloatType floatType(const char *name) {
  return *r2q::quant::parseFloatType(name);
}

/// The input of a case in its element type's bytes.
std::vector<uint8_t> inputBytes(const KernelCase &c,
                                const std::vector<float> &x) {
  FloatType type = floatType(c.input);
  std::vector<uint8_t> bytes;
  if (type == FloatType::F32) {
    bytes.resize(x.size() * 4);
    std::memcpy(bytes.data(), x.data(), bytes.size());
    return bytes;
  }
  bytes.resize(x.size() * 2);
  for (size_t i = 0; i < x.size(); ++i) {
    uint16_t bits = type == FloatType::F16
                        ? r2q::quant::floatToHalfBits(x[i])
                        : r2q::quant::floatToBFloat16Bits(x[i]);
    std::memcpy(bytes.data() + 2 * i, &bits, 2);
  }
  return bytes;
}

/// The device buffers of one call and its result.
struct Call {
  Descriptor<2> x;
  Descriptor<3> signs, scales;
  Descriptor<1> offsets, columns, values; // outliers, where the case has them
};

/// A weight's sign planes and scales (f16 or the case's scale type) on the
/// device, in the layout case `c` takes: canonical, or row-interleaved
/// (packed here, as r2q-pack-weights packs a constant weight).
void uploadWeight(const KernelCase &c, const std::vector<uint8_t> &signs,
                  const std::vector<uint8_t> &scales, int64_t scaleBytes,
                  Call &call) {
  int64_t bytesPerRow = (c.k + 7) / 8,
          groups = (c.k + c.groupSize - 1) / c.groupSize;
  if (!c.interleaved) {
    call.signs = Descriptor<3>::of(upload(signs.data(), signs.size()),
                                   {c.planes, c.n, bytesPerRow});
    call.scales = Descriptor<3>::of(upload(scales.data(), scales.size()),
                                    {c.planes, c.n, groups});
    return;
  }
  namespace quant = r2q::quant;
  std::vector<uint8_t> packedSigns =
      quant::interleaveSignRows(signs, c.planes, c.n, c.k);
  std::vector<uint8_t> packedScales = quant::interleaveScaleRows(
      scales, scaleBytes, c.planes, c.n, groups, c.groupSize);
  int64_t blocks = quant::interleavedBlocks(c.n);
  call.signs =
      Descriptor<3>::of(upload(packedSigns.data(), packedSigns.size()),
                        {c.planes, blocks, quant::interleavedBlockBytes(c.k)});
  call.scales = Descriptor<3>::of(
      upload(packedScales.data(), packedScales.size()),
      {c.planes, blocks, quant::kInterleavedBlockRows * groups});
}

/// Calls case `c`'s function; the caller frees the result (device memory,
/// or a host placeholder after an error). A CUDA error in the call (out of
/// memory, a launch the GPU refuses, a kernel's fault) is returned rather
/// than fatal, so the other cases still run. (After a fault the GPU's
/// context is lost: runCases stops the harness with kContextLost.)
r2q::cuda::Result<Descriptor<2>> run(const KernelCase &c, Call &call) {
  r2q::cuda::LoweredCodeErrors errors;
  r2q::cuda::Result<Descriptor<2>> result;
  Descriptor<2> *y = &result.value;
  if (c.constantWeight)
    reinterpret_cast<void (*)(void *, void *)>(c.function)(y, &call.x);
  else if (c.outliers)
    reinterpret_cast<void (*)(void *, void *, void *, void *, void *, void *,
                              void *)>(c.function)(y, &call.x, &call.signs,
                                                   &call.scales, &call.offsets,
                                                   &call.columns, &call.values);
  else
    reinterpret_cast<void (*)(void *, void *, void *, void *)>(c.function)(
        y, &call.x, &call.signs, &call.scales);
  result.error = errors.end().error;
  return result;
}

/// The weight's outliers on the device as the case's operands: i32 row
/// offsets, i16 columns, f16 values.
void uploadOutliers(const r2q::quant::SparseOutliers &outliers, Call &call) {
  std::vector<int16_t> columns(outliers.columns.begin(),
                               outliers.columns.end());
  std::vector<uint16_t> values;
  for (float value : outliers.values)
    values.push_back(r2q::quant::floatToHalfBits(value));
  int64_t count = outliers.count();
  call.offsets = Descriptor<1>::of(
      upload(outliers.rowOffsets.data(), outliers.rowOffsets.size() * 4),
      {static_cast<int64_t>(outliers.rowOffsets.size())});
  // One spare element: a weight without outliers still gets a buffer.
  columns.push_back(0);
  values.push_back(0);
  call.columns =
      Descriptor<1>::of(upload(columns.data(), columns.size() * 2), {count});
  call.values =
      Descriptor<1>::of(upload(values.data(), values.size() * 2), {count});
}

/// Byte i of a constant weight's sign planes: gen_kernels.py's
/// constant_sign_byte, which wrote them into the module.
uint8_t constantSignByte(uint32_t i) {
  uint32_t x = i * 2654435761u + 97u;
  x = (x ^ (x >> 15)) * 2246822519u;
  return static_cast<uint8_t>(x ^ (x >> 13));
}

/// Scale j of a constant weight: gen_kernels.py's constant_scale.
float constantScale(int64_t j, int64_t scalesPerPlane) {
  return std::ldexp(static_cast<float>(1 + j * 37 % 13),
                    -8 - 2 * static_cast<int>(j / scalesPerPlane));
}

/// The weight that case `c` holds as a constant of its module.
r2q::quant::PackedWeight constantWeight(const KernelCase &c) {
  r2q::quant::PackedWeight weight;
  weight.rows = c.n;
  weight.cols = c.k;
  weight.groupSize = c.groupSize;
  weight.planes = c.planes;
  weight.scaleType = floatType(c.scales);
  weight.signs.resize(c.planes * c.n * weight.bytesPerRow());
  for (size_t i = 0; i < weight.signs.size(); ++i)
    weight.signs[i] = constantSignByte(static_cast<uint32_t>(i));
  const int64_t scalesPerPlane = c.n * weight.groupsPerRow();
  weight.scales.resize(c.planes * scalesPerPlane);
  for (size_t j = 0; j < weight.scales.size(); ++j)
    weight.scales[j] = constantScale(static_cast<int64_t>(j), scalesPerPlane);
  return weight;
}

/// A random N x K weight (std 0.05) quantized as case `c` says.
r2q::quant::PackedWeight randomWeight(const KernelCase &c,
                                      std::mt19937 &generator) {
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(c.n * c.k);
  for (float &value : w)
    value = normal(generator);
  r2q::quant::Scheme scheme;
  scheme.groupSize = c.groupSize;
  scheme.planes = c.planes;
  scheme.scaleType = floatType(c.scales);
  if (c.outliers)
    scheme.outliers.fraction = 0.01;
  r2q::quant::PackedWeight weight;
  r2q::quant::Status status = r2q::quant::quantize(
      r2q::quant::MatrixView::ofFloats(w.data(), c.n, c.k), scheme, weight);
  if (!status.ok())
    fail(std::string("quantize: ") + status.message());
  return weight;
}

/// The error bound of case `c`'s kernel.
r2q::bench::ErrorBound boundOf(const KernelCase &c) {
  return {.f16Tiles = std::strcmp(c.strategy, "mma_gemm") == 0 ||
                      std::strcmp(c.strategy, "wgmma_gemm") == 0};
}

/// What bounds output (row, col)'s error, and the output itself, from one
/// pass over K: sum_k |x_k w_k|, max_k |x_k|, sum_k |w_k| and sum_k x_k w_k
/// (the numerics core's decoded weights, in double).
struct OutputTerms {
  double magnitude = 0, largestX = 0, weights = 0, exact = 0;

  static OutputTerms of(const KernelCase &c, const std::vector<float> &x,
                        const r2q::quant::PackedWeight &weight, int64_t row,
                        int64_t col) {
    OutputTerms terms;
    const float *xRow = x.data() + row * c.k;
    for (int64_t i = 0; i < c.k; ++i) {
      double w = weight.value(col, i);
      terms.magnitude += std::fabs(xRow[i] * w);
      terms.largestX = std::max<double>(terms.largestX, std::fabs(xRow[i]));
      terms.weights += std::fabs(w);
      terms.exact += xRow[i] * w;
    }
    return terms;
  }
};

/// Checks output (`row`, `col`) of case `c`, `got` where the numerics core
/// says `want`, against the kernel's bound: a miss goes to `misses`, the
/// error relative to sum |x w| to `worst` if it is larger.
void checkOutput(const KernelCase &c, const OutputTerms &terms, int64_t row,
                 int64_t col, double got, double want,
                 r2q::bench::MissReport &misses, double &worst) {
  double error = std::fabs(got - want);
  worst = std::max(worst, error / (terms.magnitude + 1e-30));
  if (!(error <= boundOf(c).of(terms.magnitude, terms.largestX, terms.weights)))
    misses.add(row, col, got, want);
}

/// Checks every output of `y` against the numerics core's product of `x`
/// and `weight`.
void checkOutputs(const KernelCase &c, const std::vector<float> &x,
                  const r2q::quant::PackedWeight &weight,
                  const std::vector<float> &y, r2q::bench::MissReport &misses,
                  double &worst) {
  std::vector<double> expected(c.m * c.n);
  r2q::quant::referenceMatmul(x.data(), c.m, weight, expected.data());
  for (int64_t row = 0; row < c.m; ++row)
    for (int64_t col = 0; col < c.n; ++col)
      checkOutput(c, OutputTerms::of(c, x, weight, row, col), row, col,
                  y[row * c.n + col], expected[row * c.n + col], misses, worst);
}

/// Runs case `c` on fresh random data against the numerics core. A
/// constant weight's case runs twice: the first call copies the weight to
/// the device, the second reads that copy.
bool checkCase(const KernelCase &c, unsigned seed) {
  std::mt19937 generator(seed);
  r2q::quant::PackedWeight weight =
      c.constantWeight ? constantWeight(c) : randomWeight(c, generator);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(c.m * c.k);
  for (float &value : x)
    value = r2q::quant::roundTo(floatType(c.input), normal(generator));

  std::vector<uint8_t> xBytes = inputBytes(c, x);
  Call call;
  call.x = Descriptor<2>::of(upload(xBytes.data(), xBytes.size()), {c.m, c.k});
  if (!c.constantWeight)
    uploadWeight(c, weight.signs, weight.encodedScales(),
                 r2q::quant::byteWidth(floatType(c.scales)), call);
  if (c.outliers)
    uploadOutliers(weight.outliers, call);
  double worst = 0;
  r2q::bench::MissReport misses;
  int64_t checked = 0;
  std::string error;
  for (int calls = c.constantWeight ? 2 : 1; calls > 0 && error.empty();
       --calls) {
    auto result = run(c, call);
    if (!result.ok()) {
      error = result.error;
      r2qCudaFree(result.value.aligned);
      break;
    }
    std::vector<float> y(c.m * c.n);
    check(r2qCudaCopyToHost(y.data(), result.value.aligned, y.size() * 4),
          "copy to host");
    r2qCudaFree(result.value.aligned);
    checkOutputs(c, x, weight, y, misses, worst);
    checked += c.m * c.n;
  }
  std::printf("check %-15s %-13s M=%-3lld N=%-5lld K=%-5lld G=%-3lld P=%d "
              "x=%-4s scales=%-4s outliers=%-5lld max |err|/sum|xw| = %.2e  "
              "%s (seed %u)\n",
              c.name, c.strategy, (long long)c.m, (long long)c.n,
              (long long)c.k, (long long)c.groupSize, c.planes, c.input,
              c.scales, (long long)weight.outliers.count(), worst,
              !error.empty()   ? ("ERROR: " + error).c_str()
              : misses.count() ? "FAIL"
                               : "ok",
              seed);
  std::printf("%s", misses.describe(checked).c_str());
  for (void *buffer :
       {call.x.aligned, call.signs.aligned, call.scales.aligned,
        call.offsets.aligned, call.columns.aligned, call.values.aligned})
    r2qCudaFree(buffer);
  return misses.count() == 0 && error.empty();
}

/// Device-to-device copy bandwidth (bytes read + written per second) of a
/// 2 GiB copy, the best of several.
double copyBandwidth() {
  const size_t bytes = size_t(2) << 30;
  void *a = nullptr, *b = nullptr, *start = nullptr, *end = nullptr;
  check(r2qCudaMalloc(&a, bytes), "cuMemAlloc");
  check(r2qCudaMalloc(&b, bytes), "cuMemAlloc");
  check(r2qCudaTimingEventCreate(&start), "event");
  check(r2qCudaTimingEventCreate(&end), "event");
  float best = 1e30f;
  for (int pass = 0; pass < 6; ++pass) {
    check(r2qCudaEventRecord(start, nullptr), "event record");
    check(r2qCudaCopyDeviceToDevice(b, a, bytes, nullptr), "copy");
    check(r2qCudaEventRecord(end, nullptr), "event record");
    float ms = 0;
    check(r2qCudaEventElapsedMs(&ms, start, end), "event time");
    if (pass > 0)
      best = std::min(best, ms);
  }
  r2qCudaFree(a);
  r2qCudaFree(b);
  return 2.0 * bytes / (best * 1e-3);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

/// Frees a benchmark case's activations and weight copies.
void releaseCase(void *xDevice, std::vector<Call> &calls) {
  r2qCudaFree(xDevice);
  for (Call &call : calls) {
    r2qCudaFree(call.signs.aligned);
    r2qCudaFree(call.scales.aligned);
  }
}

/// The median wall-clock time of a call of case `c` in microseconds, over
/// calls rotating through the weight copies `calls`: what its caller waits
/// for (the result's allocation, the launches, the stream's creation and
/// synchronization), not only the kernels; or the first call's error.
r2q::cuda::Result<double> callMicroseconds(const KernelCase &c,
                                           std::vector<Call> &calls) {
  r2q::cuda::Result<double> timed;
  std::vector<double> us;
  for (size_t i = 0; i < std::max<size_t>(calls.size(), 21); ++i) {
    auto start = std::chrono::steady_clock::now();
    auto result = run(c, calls[i % calls.size()]);
    auto end = std::chrono::steady_clock::now();
    r2qCudaFree(result.value.aligned);
    if (!result.ok()) {
      timed.error = result.error;
      return timed;
    }
    us.push_back(
        std::chrono::duration<double, std::micro>(end - start).count());
  }
  timed.value = median(us);
  return timed;
}

/// Outputs of a benchmark call checked against the numerics core: the
/// first and the last, the rest at random.
constexpr int kSampledOutputs = 64;

/// Checks kSampledOutputs outputs of one call of benchmark case `c`, whose
/// weight is `signs` and f16 `scales` in the canonical layout, against the
/// numerics core (a time for wrong numbers is no time); returns the call's
/// error.
std::string checkSampledOutputs(const KernelCase &c,
                                const std::vector<float> &x,
                                const std::vector<uint8_t> &signs,
                                const std::vector<uint8_t> &scales, Call &call,
                                r2q::bench::MissReport &misses) {
  r2q::quant::Scheme scheme;
  scheme.groupSize = c.groupSize;
  scheme.planes = c.planes;
  scheme.scaleType = FloatType::F16; // the bytes benchCase made
  if (floatType(c.scales) != FloatType::F16)
    fail(std::string(c.name) + ": benchmark cases take f16 scales");
  r2q::quant::PackedWeight weight;
  r2q::quant::Status status = r2q::quant::PackedWeight::fromEncoded(
      c.n, c.k, scheme, signs, scales, weight);
  if (!status.ok())
    fail(std::string("benchmark weight: ") + status.message());
  auto result = run(c, call);
  if (!result.ok()) {
    r2qCudaFree(result.value.aligned);
    return result.error;
  }
  std::vector<float> y(c.m * c.n);
  check(r2qCudaCopyToHost(y.data(), result.value.aligned, y.size() * 4),
        "copy to host");
  r2qCudaFree(result.value.aligned);
  std::mt19937 generator(static_cast<unsigned>(c.n * 31 + c.k));
  double worst = 0;
  for (int i = 0; i < kSampledOutputs; ++i) {
    int64_t row = i == 0 ? 0 : i == 1 ? c.m - 1 : generator() % c.m;
    int64_t col = i == 0 ? 0 : i == 1 ? c.n - 1 : generator() % c.n;
    OutputTerms terms = OutputTerms::of(c, x, weight, row, col);
    checkOutput(c, terms, row, col, y[row * c.n + col], terms.exact, misses,
                worst);
  }
  return "";
}

/// Times case `c`; false (with the error printed) where its call failed
/// or a sampled output missed.
bool benchCase(const KernelCase &c, double copyBytesPerSecond,
               int multiprocessors) {
  recordedLaunches.clear();
  int64_t bytesPerRow = (c.k + 7) / 8,
          groups = (c.k + c.groupSize - 1) / c.groupSize;
  size_t signBytes = size_t(c.planes) * c.n * bytesPerRow;
  size_t scaleBytes = size_t(c.planes) * c.n * groups * 2;
  size_t weightBytes = signBytes + scaleBytes;
  // Copies that together hold at least 1 GiB (the L2 is 50-60 MB).
  int copies = static_cast<int>(
      std::max<size_t>(2, (size_t(1) << 30) / weightBytes + 1));
  std::mt19937 generator(12345);
  std::vector<uint8_t> signs(signBytes);
  for (uint8_t &byte : signs)
    byte = static_cast<uint8_t>(generator());
  std::vector<uint8_t> scales(scaleBytes);
  for (size_t i = 0; i < scales.size(); i += 2) {
    uint16_t bits =
        r2q::quant::floatToHalfBits(0.01f + 0.001f * (generator() % 100));
    std::memcpy(scales.data() + i, &bits, 2);
  }
  std::vector<float> x(c.m * c.k);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float &value : x)
    value = r2q::quant::roundTo(floatType(c.input), normal(generator));
  std::vector<uint8_t> xBytes = inputBytes(c, x);
  std::vector<Call> calls(copies);
  void *xDevice = upload(xBytes.data(), xBytes.size());
  for (Call &call : calls) {
    call.x = Descriptor<2>::of(xDevice, {c.m, c.k});
    uploadWeight(c, signs, scales, 2, call);
  }
  r2q::bench::MissReport misses;
  std::string error =
      checkSampledOutputs(c, x, signs, scales, calls[0], misses);
  std::vector<double> kernelMs;
  const int iterations = std::max(3 * copies, 60);
  for (int i = 0; i < iterations && error.empty(); ++i) {
    launchEvents.clear();
    timingLaunches = true;
    recordingLaunches = i == copies; // the first measured call
    auto result = run(c, calls[i % copies]);
    timingLaunches = recordingLaunches = false;
    double ms = 0;
    for (auto [start, end] : launchEvents) {
      float elapsed = 0;
      if (result.ok())
        check(r2qCudaEventElapsedMs(&elapsed, start, end), "event time");
      ms += elapsed;
      r2qCudaEventDestroy(start);
      r2qCudaEventDestroy(end);
    }
    error = result.error;
    r2qCudaFree(result.value.aligned);
    if (i >= copies) // the first pass over the copies warms up
      kernelMs.push_back(ms);
  }
  double callUs = 0;
  if (error.empty()) {
    auto timed = callMicroseconds(c, calls);
    callUs = timed.value;
    error = timed.error;
  }
  releaseCase(xDevice, calls);
  if (!error.empty()) {
    std::printf("bench %-28s %-13s ERROR: %s\n", c.name, c.strategy,
                error.c_str());
    std::fflush(stdout);
    return false;
  }
  double ms = median(kernelMs);
  double bandwidth = weightBytes / (ms * 1e-3);
  double flops = 2.0 * c.m * c.n * c.k / (ms * 1e-3);
  std::string outputs = misses.count()
                            ? "WRONG (" + std::to_string(misses.count()) +
                                  " of " + std::to_string(kSampledOutputs) + ")"
                            : "ok";
  std::printf("bench %-28s %-13s %8.1f us  weights %7.1f MB  %7.0f GB/s  "
              "%5.1f%% of copy  %6.1f TFLOP/s  call %8.1f us  outputs %s\n%s",
              c.name, c.strategy, ms * 1e3, weightBytes / 1e6, bandwidth / 1e9,
              100.0 * bandwidth / copyBytesPerSecond, flops / 1e12, callUs,
              outputs.c_str(), misses.describe(kSampledOutputs).c_str());
  auto query = [](const r2q::bench::Launch &launch, R2QCudaKernelInfo &info) {
    return r2qCudaKernelInfo(launch.function, launch.threads(),
                             launch.dynamicSharedBytes, &info) == 0
               ? std::string()
               : std::string(r2qCudaLastError());
  };
  std::printf("%s", r2q::bench::describeLaunches(recordedLaunches,
                                                 multiprocessors, query)
                        .c_str());
  std::fflush(stdout);
  return misses.count() == 0;
}

} // namespace

/// The compiled kernels' modules are loaded by constructors (priority 123)
/// that abort without a GPU: this one runs first and exits with the reason.
__attribute__((constructor(101))) static void exitWithoutGPU() {
  if (const char *reason = r2qCudaUnavailableReason()) {
    std::printf("%s\n", reason);
    std::fflush(stdout);
    std::_Exit(77); // no destructors: the kernels' would unload modules
  }
}

namespace {

/// The exit status after a case's error that lost the GPU context (a
/// kernel's fault: every later call of the process would fail too).
/// scripts/gpu-check.sh runs the harness again with --after NAME.
constexpr int kContextLost = 3;

/// What to run: `check`, `bounds` or `bench`, the cases whose names contain one
/// of the filters (all without any), those after case `after` only.
struct Selection {
  std::string mode = "check";
  std::vector<std::string> filters;
  std::string after;

  static bool parse(int argc, char **argv, Selection &selection) {
    if (argc > 1)
      selection.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--after") != 0)
        selection.filters.push_back(argv[i]);
      else if (++i < argc)
        selection.after = argv[i];
      else
        return false;
    }
    // --after names a case of the mode (check_*, bounds_*, bench_*).
    bool known = selection.after.empty() ||
                 (selection.after.starts_with(selection.mode + "_") &&
                  std::any_of(std::begin(kCases), std::end(kCases),
                              [&](const KernelCase &c) {
                                return selection.after == c.name;
                              }));
    return known && (selection.checks() || selection.mode == "bench");
  }

  /// Whether the mode runs correctness cases (check_*, or bounds_*: the
  /// same compiled with bounds checks) rather than the benchmark.
  bool checks() const { return mode == "check" || mode == "bounds"; }

  /// The cases of the mode that run, in kCases' order.
  std::vector<const KernelCase *> cases() const {
    std::vector<const KernelCase *> chosen;
    std::string prefix = mode + "_";
    bool skipping = !after.empty();
    for (const KernelCase &c : kCases) {
      if (skipping) {
        skipping = after != c.name;
        continue;
      }
      if (std::string_view(c.name).starts_with(prefix) && selected(c.name))
        chosen.push_back(&c);
    }
    return chosen;
  }

private:
  bool selected(const char *name) const {
    return filters.empty() ||
           std::any_of(filters.begin(), filters.end(),
                       [&](const std::string &filter) {
                         return std::strstr(name, filter.c_str()) != nullptr;
                       });
  }
};

/// Runs each case of `cases` with `runCase`; returns 0 if every case
/// passed, else 1, or kContextLost when a case that failed left the GPU
/// context unusable and cases remain (saying after which case to go on).
template <typename RunCase>
int runCases(const std::vector<const KernelCase *> &cases, RunCase runCase) {
  bool ok = true;
  for (const KernelCase *c : cases) {
    if (runCase(*c))
      continue;
    ok = false;
    if (r2qCudaSynchronize() == 0)
      continue;
    bool last = c == cases.back();
    std::printf(
        "r2q-gpu-bench: the GPU context is lost after %s: %s%s\n", c->name,
        r2qCudaLastError(),
        last
            ? ""
            : ("; the rest runs with --after " + std::string(c->name)).c_str());
    std::fflush(stdout);
    return last ? 1 : kContextLost;
  }
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
  Selection selection;
  if (!Selection::parse(argc, argv, selection)) {
    std::fprintf(stderr, "usage: r2q-gpu-bench [check|bounds|bench] [NAME...] "
                         "[--after NAME]\n");
    return 2;
  }
  R2QCudaDeviceInfo info;
  check(r2qCudaDeviceInfo(0, &info), "device info");
  std::printf("device: %s (sm_%d%d, %d SMs)\n", info.name,
              info.computeCapabilityMajor, info.computeCapabilityMinor,
              info.multiprocessorCount);
  if (selection.checks()) {
    unsigned seed = std::random_device{}();
    if (const char *fixed = std::getenv("R2Q_TEST_SEED"))
      seed = static_cast<unsigned>(std::strtoul(fixed, nullptr, 10));
    int status = runCases(selection.cases(), [&](const KernelCase &c) {
      return checkCase(c, seed++);
    });
    if (status != kContextLost)
      std::printf("%s\n", status == 0 ? "all checks passed" : "CHECKS FAILED");
    return status;
  }
  double copy = copyBandwidth();
  std::printf("device-to-device copy: %.0f GB/s (read + write)\n", copy / 1e9);
  return runCases(selection.cases(), [&](const KernelCase &c) {
    return benchCase(c, copy, info.multiprocessorCount);
  });
}
