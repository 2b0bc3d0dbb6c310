//===- r2q-gpu-smoke.cpp - A first run of libr2q_cuda_runtime on a GPU ----===//
//
// Exercises the mgpu* entry points the way lowered host code calls them
// (allocation, memsets, copies, PTX JIT and launches, shared memory above
// 48 KiB, clusters, events, host registration, managed memory, TMA
// descriptors, calls on a caller's stream) and the harness API's errors and
// timing, on random data checked bit for bit against the host. Needs only
// libr2q_cuda_runtime.so beside it in ../lib (rpath), so
// build/bin/r2q-gpu-smoke and build/lib/libr2q_cuda_runtime.so can be copied to
// a GPU machine together.
//
//   r2q-gpu-smoke [--cubin FILE]   run (FILE: a cubin of --print-ptx's PTX,
//                                  also loaded and run through mgpuModuleLoad)
//   r2q-gpu-smoke --print-ptx      print the kernels' PTX (for ptxas)
//
// Exit status: 0 every check passed, 1 a check failed, 77 skipped because
// no GPU can be used (the reason is printed). A driver error aborts with
// the runtime's message. Random data: seed printed, R2Q_TEST_SEED replays.
//
//===----------------------------------------------------------------------===//

#include "Quant/RandomWeights.h"
#include "r2q/Runtime/CudaRuntime.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

constexpr int kSkipped = 77;

// Two kernels on (a, b, c, n): c[i] = a[i] + b[i] for i < n. The second
// exchanges the sums between threads through the top of the dynamic shared
// memory, so it needs whatever size the launch gives it.
const char *const kPtx = R"ptx(.version 7.8
.target sm_80
.address_size 64

.extern .shared .align 16 .b8 r2q_dynamic_smem[];

.visible .entry r2q_vadd(.param .u64 a, .param .u64 b, .param .u64 c,
                         .param .u32 count)
{
  .reg .pred inRange;
  .reg .b32 block, threads, thread, i, n;
  .reg .f32 x, y, sum;
  .reg .b64 pa, pb, pc, offset;
  ld.param.u64 pa, [a];
  ld.param.u64 pb, [b];
  ld.param.u64 pc, [c];
  ld.param.u32 n, [count];
  mov.u32 block, %ctaid.x;
  mov.u32 threads, %ntid.x;
  mov.u32 thread, %tid.x;
  mad.lo.u32 i, block, threads, thread;
  setp.lt.u32 inRange, i, n;
  @!inRange bra done;
  mul.wide.u32 offset, i, 4;
  cvta.to.global.u64 pa, pa;
  cvta.to.global.u64 pb, pb;
  cvta.to.global.u64 pc, pc;
  add.u64 pa, pa, offset;
  add.u64 pb, pb, offset;
  add.u64 pc, pc, offset;
  ld.global.f32 x, [pa];
  ld.global.f32 y, [pb];
  add.rn.f32 sum, x, y;
  st.global.f32 [pc], sum;
done:
  ret;
}

.visible .entry r2q_vadd_shared(.param .u64 a, .param .u64 b, .param .u64 c,
                                .param .u32 count)
{
  .reg .pred inRange, partnerInRange;
  .reg .b32 block, threads, thread, i, n, partner, j, smemBytes, slot,
            base, mine, theirs;
  .reg .f32 x, y, sum, other;
  .reg .b64 pa, pb, pc, offset;
  ld.param.u64 pa, [a];
  ld.param.u64 pb, [b];
  ld.param.u64 pc, [c];
  ld.param.u32 n, [count];
  cvta.to.global.u64 pa, pa;
  cvta.to.global.u64 pb, pb;
  cvta.to.global.u64 pc, pc;
  mov.u32 block, %ctaid.x;
  mov.u32 threads, %ntid.x;
  mov.u32 thread, %tid.x;
  mad.lo.u32 i, block, threads, thread;
  setp.lt.u32 inRange, i, n;
  mov.f32 sum, 0f00000000;
  mul.wide.u32 offset, i, 4;
  add.u64 pa, pa, offset;
  add.u64 pb, pb, offset;
  @inRange ld.global.f32 x, [pa];
  @inRange ld.global.f32 y, [pb];
  @inRange add.rn.f32 sum, x, y;
  mov.u32 smemBytes, %dynamic_smem_size;
  shr.u32 slot, smemBytes, 2;
  sub.u32 slot, slot, threads;
  shl.b32 slot, slot, 2;
  mov.u32 base, r2q_dynamic_smem;
  add.u32 base, base, slot;
  mad.lo.u32 mine, thread, 4, base;
  st.shared.f32 [mine], sum;
  bar.sync 0;
  sub.u32 partner, threads, 1;
  sub.u32 partner, partner, thread;
  mad.lo.u32 theirs, partner, 4, base;
  ld.shared.f32 other, [theirs];
  mad.lo.u32 j, block, threads, partner;
  setp.lt.u32 partnerInRange, j, n;
  mul.wide.u32 offset, j, 4;
  add.u64 pc, pc, offset;
  @partnerInRange st.global.f32 [pc], other;
  ret;
}
)ptx";

const char *const kBrokenPtx = ".version 7.8\n.target sm_80\n"
                               ".address_size 64\n"
                               ".visible .entry broken() {\n"
                               "  not.an.instruction;\n  ret;\n}\n";

/// Counts checks and reports each failure.
struct Checks {
  int passed = 0;
  int failed = 0;

  void expect(bool ok, const std::string &what) {
    if (ok) {
      ++passed;
      std::printf("  ok: %s\n", what.c_str());
      return;
    }
    ++failed;
    std::printf("  FAILED: %s\n", what.c_str());
  }

  /// Bitwise equality of two buffers, naming the first differing word.
  template <typename T>
  void expectEqual(const std::vector<T> &actual, const std::vector<T> &expected,
                   const std::string &what) {
    size_t mismatches = 0, first = 0;
    for (size_t i = 0; i < expected.size(); ++i)
      if (std::memcmp(&actual[i], &expected[i], sizeof(T)) != 0 &&
          mismatches++ == 0)
        first = i;
    std::string detail = what;
    if (mismatches)
      detail += " (" + std::to_string(mismatches) + " of " +
                std::to_string(expected.size()) + " differ, first at " +
                std::to_string(first) + ")";
    expect(mismatches == 0 && actual.size() == expected.size(), detail);
  }

  /// A runtime call's status: 0, else a failure with the runtime's message.
  void expectSuccess(int status, const std::string &what) {
    expect(status == 0,
           status == 0 ? what : what + ": " + std::string(r2qCudaLastError()));
  }

  void expectContains(const std::string &text, const std::string &part,
                      const std::string &what) {
    expect(text.find(part) != std::string::npos,
           what + (text.find(part) == std::string::npos
                       ? ": '" + part + "' missing from: " + text
                       : ""));
  }
};

/// Device buffers and the host data of one vector addition.
struct VectorAdd {
  uint32_t n;
  std::vector<float> a, b, sum;
  void *deviceA, *deviceB, *deviceC;

  VectorAdd(uint32_t n, r2q::test::Rng &rng, void *stream, bool managed)
      : n(n), a(n), b(n), sum(n) {
    for (uint32_t i = 0; i < n; ++i) {
      // Magnitudes from 2^-20 to 2^20, so sums round.
      a[i] = static_cast<float>((rng.uniform() * 2 - 1) *
                                std::ldexp(1.0, int(rng.next32() % 41) - 20));
      b[i] = static_cast<float>(rng.uniform() * 2 - 1);
      sum[i] = a[i] + b[i];
    }
    size_t bytes = size_t(n) * sizeof(float);
    deviceA = mgpuMemAlloc(bytes, stream, managed);
    deviceB = mgpuMemAlloc(bytes, stream, managed);
    deviceC = mgpuMemAlloc(bytes, stream, managed);
    mgpuMemcpy(deviceA, a.data(), bytes, stream);
    mgpuMemcpy(deviceB, b.data(), bytes, stream);
    // A NaN pattern: a kernel that skips an element leaves it visible.
    mgpuMemset32(deviceC, 0x7fc0dead, n, stream);
  }

  ~VectorAdd() {
    mgpuMemFree(deviceA, nullptr);
    mgpuMemFree(deviceB, nullptr);
    mgpuMemFree(deviceC, nullptr);
  }

  /// Launches `function` over 256-thread blocks covering n (the grid rounded
  /// up to a multiple of `clusterX` for a cluster launch).
  void launch(void *function, void *stream, int32_t sharedBytes,
              intptr_t clusterX = 0) {
    void *params[] = {&deviceA, &deviceB, &deviceC, &n};
    intptr_t blocks = (n + 255) / 256;
    if (clusterX) {
      blocks = (blocks + clusterX - 1) / clusterX * clusterX;
      mgpuLaunchClusterKernel(function, clusterX, 1, 1, blocks, 1, 1, 256, 1, 1,
                              sharedBytes, stream, params, nullptr, 4);
      return;
    }
    mgpuLaunchKernel(function, blocks, 1, 1, 256, 1, 1, sharedBytes, stream,
                     params, nullptr, 4);
  }

  std::vector<float> result(void *stream) {
    std::vector<float> out(n);
    mgpuMemcpy(out.data(), deviceC, size_t(n) * sizeof(float), stream);
    mgpuStreamSynchronize(stream);
    return out;
  }
};

void checkMemsets(Checks &checks, void *stream) {
  const size_t words = 1000003, halves = 77777;
  void *buffer = mgpuMemAlloc(words * 4, stream, false);
  mgpuMemset32(buffer, 0xa5c3e1f0u, words, stream);
  mgpuMemset16(buffer, 0xbeef, halves, stream);
  std::vector<uint16_t> actual(words * 2), expected(words * 2);
  for (size_t i = 0; i < words; ++i) {
    expected[2 * i] = 0xe1f0;
    expected[2 * i + 1] = 0xa5c3;
  }
  std::fill_n(expected.begin(), halves, 0xbeef);
  mgpuMemcpy(actual.data(), buffer, words * 4, stream);
  mgpuStreamSynchronize(stream);
  checks.expectEqual(actual, expected,
                     "mgpuMemset32 over 1000003 words, then mgpuMemset16 "
                     "over the first 77777 halves");
  mgpuMemFree(buffer, stream);
}

void checkKernels(Checks &checks, r2q::test::Rng &rng, void *stream,
                  const R2QCudaDeviceInfo &info) {
  void *module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 3);
  void *vadd = mgpuModuleGetFunction(module, "r2q_vadd");
  void *vaddShared = mgpuModuleGetFunction(module, "r2q_vadd_shared");
  VectorAdd data(1000003, rng, stream, /*managed=*/false);
  data.launch(vadd, stream, 0);
  checks.expectEqual(data.result(stream), data.sum,
                     "r2q_vadd from mgpuModuleLoadJIT over 1000003 floats");

  int32_t shared = std::min(info.maxSharedMemoryPerBlockOptin, 160 * 1024);
  mgpuMemset32(data.deviceC, 0x7fc0dead, data.n, stream);
  data.launch(vaddShared, stream, shared);
  checks.expectEqual(data.result(stream), data.sum,
                     "r2q_vadd_shared with " + std::to_string(shared) +
                         " bytes of dynamic shared memory");

  mgpuModuleUnload(module);

  // PTX with a size and no terminating NUL: mgpuModuleLoad takes PTX too.
  module = mgpuModuleLoad(const_cast<char *>(kPtx), std::strlen(kPtx));
  mgpuMemset32(data.deviceC, 0x7fc0dead, data.n, stream);
  data.launch(mgpuModuleGetFunction(module, "r2q_vadd"), stream, 0);
  checks.expectEqual(data.result(stream), data.sum,
                     "r2q_vadd from PTX through mgpuModuleLoad(data, size)");
  mgpuModuleUnload(module);
}

/// Thread-block clusters (sm_90 and later), from the same PTX built for
/// sm_90.
void checkClusterLaunch(Checks &checks, r2q::test::Rng &rng, void *stream) {
  std::string ptx = kPtx;
  ptx.replace(ptx.find(".target sm_80"), 13, ".target sm_90");
  void *module = mgpuModuleLoadJIT(ptx.data(), 3);
  VectorAdd data(1000003, rng, stream, /*managed=*/false);
  data.launch(mgpuModuleGetFunction(module, "r2q_vadd"), stream, 0,
              /*clusterX=*/2);
  checks.expectEqual(data.result(stream), data.sum,
                     "r2q_vadd through mgpuLaunchClusterKernel, clusters of 2 "
                     "blocks");
  mgpuModuleUnload(module);
}

void checkCubin(Checks &checks, r2q::test::Rng &rng, void *stream,
                const char *path) {
  std::ifstream file(path, std::ios::binary);
  std::vector<char> cubin((std::istreambuf_iterator<char>(file)),
                          std::istreambuf_iterator<char>());
  checks.expect(!cubin.empty(), std::string("read the cubin ") + path);
  if (cubin.empty())
    return;
  void *module = mgpuModuleLoad(cubin.data(), cubin.size());
  VectorAdd data(4099, rng, stream, /*managed=*/false);
  data.launch(mgpuModuleGetFunction(module, "r2q_vadd"), stream, 0);
  checks.expectEqual(data.result(stream), data.sum,
                     std::string("r2q_vadd from the cubin ") + path);
  mgpuModuleUnload(module);
}

/// A second stream waits for the first one's kernel through an event, and
/// the host reads managed memory that the kernel wrote.
void checkEventsAndManagedMemory(Checks &checks, r2q::test::Rng &rng,
                                 void *stream) {
  void *module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 2);
  void *vadd = mgpuModuleGetFunction(module, "r2q_vadd");
  VectorAdd data(65537, rng, stream, /*managed=*/true);
  data.launch(vadd, stream, 0);
  void *done = mgpuEventCreate();
  mgpuEventRecord(done, stream);
  void *other = mgpuStreamCreate();
  mgpuStreamWaitEvent(other, done);
  checks.expectEqual(data.result(other), data.sum,
                     "a second stream reads the sums after "
                     "mgpuStreamWaitEvent (managed memory)");
  mgpuEventSynchronize(done);
  std::vector<float> direct(static_cast<float *>(data.deviceC),
                            static_cast<float *>(data.deviceC) + data.n);
  checks.expectEqual(direct, data.sum,
                     "the host reads the managed result directly");
  mgpuEventDestroy(done);
  mgpuStreamDestroy(other);
  mgpuModuleUnload(module);
}

/// Lowered code on a caller's stream (r2qCudaBeginCallStream), one the
/// caller made and the legacy default stream: mgpuStreamCreate hands it
/// out, and the memory pool's allocations, copies, the launch and the copy
/// back are queued on it in order; a result goes back to the pool in the
/// stream's order (r2qCudaFreeOnStream). Then the runtime's own streams
/// are handed out again, and the pools trimmed on request.
void checkCallersStreams(Checks &checks, r2q::test::Rng &rng) {
  void *module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 3);
  void *vadd = mgpuModuleGetFunction(module, "r2q_vadd");
  void *callers = nullptr;
  checks.expectSuccess(r2qCudaStreamCreate(&callers), "a caller's stream");
  void *const legacy = reinterpret_cast<void *>(0x1); // CU_STREAM_LEGACY
  for (void *stream : {callers, static_cast<void *>(nullptr)}) {
    std::string which =
        stream ? "a stream of the caller's" : "the legacy default stream";
    checks.expectSuccess(r2qCudaBeginCallStream(stream),
                         "r2qCudaBeginCallStream takes " + which);
    void *lowered = mgpuStreamCreate();
    checks.expect(lowered == (stream ? stream : legacy),
                  "mgpuStreamCreate hands out " + which);
    VectorAdd data(1000003, rng, lowered, /*managed=*/false);
    data.launch(vadd, lowered, 0);
    checks.expectEqual(data.result(lowered), data.sum,
                       "r2q_vadd with pool buffers, all on " + which);
    checks.expectSuccess(r2qCudaFreeOnStream(data.deviceC, stream),
                         "a result freed in the order of " + which);
    data.deviceC = nullptr;
    mgpuStreamDestroy(lowered);
    checks.expectSuccess(r2qCudaEndCallStream(), "r2qCudaEndCallStream");
  }
  checks.expectSuccess(r2qCudaStreamDestroy(callers),
                       "the caller's stream outlives the calls");
  void *first = mgpuStreamCreate();
  mgpuStreamDestroy(first);
  void *again = mgpuStreamCreate();
  checks.expect(again == first && again != callers,
                "mgpuStreamCreate hands out the stream destroyed before");
  mgpuStreamDestroy(again);
  checks.expectSuccess(r2qCudaTrimMemoryPools(), "r2qCudaTrimMemoryPools");
  mgpuModuleUnload(module);
}

/// A rank-2 memref descriptor as lowered code passes it.
struct MemRef2D {
  void *allocated;
  void *aligned;
  int64_t offset, sizes[2], strides[2];
};

void checkHostRegistration(Checks &checks, r2q::test::Rng &rng, void *stream) {
  std::vector<float> host(37 * 129);
  std::vector<float> expected(host.size());
  for (float &value : expected)
    value = static_cast<float>(rng.uniform());
  MemRef2D memref{host.data(), host.data(), 0, {37, 129}, {129, 1}};
  mgpuMemHostRegisterMemRef(2, &memref, sizeof(float));
  size_t bytes = host.size() * sizeof(float);
  void *device = mgpuMemAlloc(bytes, stream, false);
  mgpuMemcpy(device, expected.data(), bytes, stream);
  mgpuMemcpy(host.data(), device, bytes, stream);
  mgpuStreamSynchronize(stream);
  mgpuMemHostUnregisterMemRef(2, &memref, sizeof(float));
  checks.expectEqual(host, expected,
                     "copies into a 37x129 memref registered with "
                     "mgpuMemHostRegisterMemRef");
  mgpuMemFree(device, stream);
}

void checkTensorMap(Checks &checks, void *stream) {
  void *device = mgpuMemAlloc(128 * 64 * 2, stream, false);
  MemRef2D memref{device, device, 0, {128, 64}, {64, 1}};
  int64_t box[2] = {64, 64};
  // CU_TENSOR_MAP_DATA_TYPE_FLOAT16, no interleave, 128-byte swizzle, no L2
  // promotion, zero fill.
  void *map = mgpuTensorMapEncodeTiledMemref(2, &memref, 6, 0, 3, 0, 0, box);
  checks.expect(map != nullptr, "mgpuTensorMapEncodeTiledMemref encodes a "
                                "128x64 f16 map with 64x64 boxes");
  mgpuMemFree(map, stream);
  mgpuMemFree(device, stream);
}

/// The harness API returns errors with the JIT log and the kernel's name.
void checkErrors(Checks &checks) {
  auto broken = r2q::cuda::loadModule(kBrokenPtx, std::strlen(kBrokenPtx));
  checks.expectContains(broken.error, "CUDA_ERROR_INVALID_PTX",
                        "broken PTX is reported");
  checks.expectContains(broken.error, "JIT error log",
                        "the JIT's log comes with it");
  auto module = r2q::cuda::loadModule(kPtx, std::strlen(kPtx) + 1);
  checks.expect(module.ok(), "the harness API loads the kernels" +
                                 (module.ok() ? "" : ": " + module.error));
  auto missing = r2q::cuda::getFunction(module.value, "no_such_kernel");
  checks.expectContains(missing.error, "'no_such_kernel'",
                        "a missing kernel is reported by name");
  auto vadd = r2q::cuda::getFunction(module.value, "r2q_vadd");
  int64_t grid[3] = {0, 1, 1}, block[3] = {256, 1, 1};
  int result = r2qCudaLaunch(vadd.value, grid, block, 0, nullptr, nullptr);
  checks.expectContains(result ? r2qCudaLastError() : "", "'r2q_vadd'",
                        "an empty grid is refused, naming the kernel");
  r2qCudaModuleUnload(module.value);
}

/// Times device-to-device copies with events (read + write bytes / time).
void measureCopyBandwidth(Checks &checks) {
  const size_t bytes = size_t(256) << 20;
  auto source = r2q::cuda::allocate(bytes), target = r2q::cuda::allocate(bytes);
  auto start = r2q::cuda::createTimingEvent();
  auto end = r2q::cuda::createTimingEvent();
  std::string errors = source.error + target.error + start.error + end.error;
  checks.expect(errors.empty(),
                "allocate 2 x 256 MiB and two timing events" + errors);
  if (!errors.empty())
    return;
  std::vector<float> times;
  for (int rep = 0; rep < 5; ++rep) {
    r2q::cuda::recordEvent(start.value);
    r2q::cuda::copyDeviceToDevice(target.value, source.value, bytes);
    r2q::cuda::recordEvent(end.value);
    auto ms = r2q::cuda::elapsedMilliseconds(start.value, end.value);
    errors += ms.error;
    times.push_back(ms.value);
  }
  checks.expect(errors.empty() &&
                    *std::min_element(times.begin(), times.end()) > 0,
                "event timing of five 256 MiB copies" + errors);
  std::sort(times.begin(), times.end());
  std::printf("  device-to-device copy: %.3f ms median for 256 MiB, %.0f "
              "GB/s (read + write)\n",
              times[2], 2.0 * bytes / (times[2] * 1e-3) / 1e9);
  r2q::cuda::destroyEvent(start.value);
  r2q::cuda::destroyEvent(end.value);
  r2q::cuda::free(source.value);
  r2q::cuda::free(target.value);
}

} // namespace

int main(int argc, char **argv) {
  const char *cubin = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--print-ptx") {
      std::fputs(kPtx, stdout);
      return 0;
    }
    if (arg == "--cubin" && i + 1 < argc) {
      cubin = argv[++i];
      continue;
    }
    std::fprintf(stderr, "usage: r2q-gpu-smoke [--cubin FILE | --print-ptx]\n");
    return 2;
  }
  std::printf("r2q-gpu-smoke: driver %s\n", r2qCudaDriverPath());
  std::string reason = r2q::cuda::unavailableReason();
  if (!reason.empty()) {
    std::printf("r2q-gpu-smoke: skipped: %s\n", reason.c_str());
    return kSkipped;
  }
  auto info = r2q::cuda::deviceInfo(0);
  if (!info.ok()) {
    std::printf("r2q-gpu-smoke: %s\n", info.error.c_str());
    return 1;
  }
  std::printf("r2q-gpu-smoke: %s, sm_%d%d, %d SMs, %.1f GiB, %d KiB shared "
              "memory per block, CUDA driver %d\n",
              info.value.name, info.value.computeCapabilityMajor,
              info.value.computeCapabilityMinor, info.value.multiprocessorCount,
              info.value.totalMemoryBytes / double(1 << 30),
              info.value.maxSharedMemoryPerBlockOptin / 1024,
              info.value.driverVersion);
  uint64_t seed = r2q::test::freshSeed();
  std::printf("r2q-gpu-smoke: seed %llu (R2Q_TEST_SEED replays)\n",
              static_cast<unsigned long long>(seed));
  r2q::test::Rng rng(seed);
  Checks checks;
  void *stream = mgpuStreamCreate();
  checkMemsets(checks, stream);
  checkKernels(checks, rng, stream, info.value);
  if (cubin)
    checkCubin(checks, rng, stream, cubin);
  checkEventsAndManagedMemory(checks, rng, stream);
  checkCallersStreams(checks, rng);
  checkHostRegistration(checks, rng, stream);
  checkErrors(checks);
  measureCopyBandwidth(checks);
  // Last: the features of sm_90 (a failure aborts after the checks above).
  if (info.value.computeCapabilityMajor >= 9) {
    checkClusterLaunch(checks, rng, stream);
    checkTensorMap(checks, stream);
  }
  mgpuStreamDestroy(stream);
  std::printf("r2q-gpu-smoke: %d passed, %d failed\n", checks.passed,
              checks.failed);
  return checks.failed ? 1 : 0;
}
