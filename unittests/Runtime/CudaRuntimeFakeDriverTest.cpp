//===- CudaRuntimeFakeDriverTest.cpp - The runtime's GPU paths, no GPU ----===//
//
// Runs libr2q_cuda_runtime.so on the fake driver of FakeCudaDriver.cpp
// (R2Q_CUDA_DRIVER, set for the whole binary before the runtime's first
// use): contexts, memory, module loading and the JIT options, launches with
// and without clusters and the shared-memory opt-in, memref descriptors,
// TMA arguments, and the messages of failing calls with kernel names. The
// fake executes r2q_vadd on the host, so the sums check what the runtime
// passed. Random data: seed printed, R2Q_TEST_SEED replays.
//
//===----------------------------------------------------------------------===//

#include "DriverOverride.h"
#include "FakeCudaDriver.h"
#include "Quant/RandomWeights.h"
#include "r2q/Runtime/CudaRuntime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using r2q::test::Rng;

const bool driverIsFake = r2q::test::overrideDriver(R2Q_FAKE_CUDA_DRIVER);

// The fake only reads the entry names.
const char kPtx[] = ".version 7.8\n.target sm_80\n.address_size 64\n"
                    ".visible .entry r2q_vadd(.param .u64 a)\n{ ret; }\n"
                    ".visible .entry r2q_vadd_shared(.param .u64 a)\n{ ret; }\n"
                    ".visible .entry r2q_faulty(.param .u64 a)\n{ ret; }\n";

Rng seededRng() {
  uint64_t seed = r2q::test::freshSeed();
  std::printf("seed %llu (R2Q_TEST_SEED replays)\n",
              static_cast<unsigned long long>(seed));
  return Rng(seed);
}

/// Whether R2Q_CUDA_MEMORY_POOL=0 switched the runtime's memory pool off.
bool memoryPoolSwitchedOff() {
  const char *setting = std::getenv("R2Q_CUDA_MEMORY_POOL");
  return setting && std::string(setting) == "0";
}

/// The number of fake devices (R2Q_FAKE_CUDA_DEVICES).
int fakeDevices() {
  auto count = r2q::cuda::deviceCount();
  EXPECT_TRUE(count.ok()) << count.error;
  return count.value;
}

/// Makes device 0 the thread's default device again when it goes.
struct BackOnDeviceZero {
  ~BackOnDeviceZero() { r2qCudaSetDevice(0); }
};

/// Host data and fake-device buffers of c = a + b.
struct VectorAdd {
  uint32_t n;
  std::vector<float> a, b, sum;
  void *deviceA, *deviceB, *deviceC;

  VectorAdd(uint32_t n, Rng &rng) : n(n), a(n), b(n), sum(n) {
    for (uint32_t i = 0; i < n; ++i) {
      a[i] = static_cast<float>(rng.uniform() * 2 - 1);
      b[i] = static_cast<float>(rng.uniform() * 1000);
      sum[i] = a[i] + b[i];
    }
    deviceA = upload(a);
    deviceB = upload(b);
    deviceC = mgpuMemAlloc(n * sizeof(float), nullptr, false);
    mgpuMemset32(deviceC, 0x7fc0dead, n, nullptr);
  }
  ~VectorAdd() {
    for (void *buffer : {deviceA, deviceB, deviceC})
      mgpuMemFree(buffer, nullptr);
  }
  void *upload(std::vector<float> &host) {
    void *device = mgpuMemAlloc(host.size() * sizeof(float), nullptr, false);
    mgpuMemcpy(device, host.data(), host.size() * sizeof(float), nullptr);
    return device;
  }
  void **params() {
    static void *storage[4];
    storage[0] = &deviceA;
    storage[1] = &deviceB;
    storage[2] = &deviceC;
    storage[3] = &n;
    return storage;
  }
  std::vector<float> result() {
    std::vector<float> out(n);
    mgpuMemcpy(out.data(), deviceC, n * sizeof(float), nullptr);
    return out;
  }
};

void *loadModule() { return mgpuModuleLoadJIT(const_cast<char *>(kPtx), 3); }

TEST(CudaRuntimeOnFakeDriver, ReportsTheDevice) {
  ASSERT_TRUE(driverIsFake);
  EXPECT_EQ(r2q::cuda::unavailableReason(), "");
  EXPECT_STREQ(r2qCudaDriverPath(), R2Q_FAKE_CUDA_DRIVER);
  auto count = r2q::cuda::deviceCount();
  ASSERT_TRUE(count.ok()) << count.error;
  EXPECT_EQ(count.value, 1);
  auto info = r2q::cuda::deviceInfo(0);
  ASSERT_TRUE(info.ok()) << info.error;
  EXPECT_STREQ(info.value.name, "r2q fake GPU");
  EXPECT_EQ(info.value.computeCapabilityMajor, 9);
  EXPECT_EQ(info.value.computeCapabilityMinor, 0);
  EXPECT_EQ(info.value.multiprocessorCount, 132);
  EXPECT_EQ(info.value.maxSharedMemoryPerBlockOptin, 227 * 1024);
  EXPECT_EQ(info.value.totalMemoryBytes, size_t(141) << 30);
  EXPECT_EQ(info.value.driverVersion, 13000);
  auto missing = r2q::cuda::deviceInfo(1);
  EXPECT_EQ(missing.error,
            "r2q: CUDA device 1 does not exist (the driver reports 1)");
}

// The fake refuses every call without the primary context; after each call
// the runtime has popped what it pushed.
TEST(CudaRuntimeOnFakeDriver, PushesTheContextOnlyDuringCalls) {
  void *stream = mgpuStreamCreate();
  void *event = mgpuEventCreate();
  mgpuEventRecord(event, stream);
  mgpuStreamWaitEvent(stream, event);
  mgpuEventSynchronize(event);
  mgpuEventDestroy(event);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  EXPECT_EQ(fakeCudaContextDepth(), 0);
}

TEST(CudaRuntimeOnFakeDriver, MemsetsAndCopies) {
  Rng rng = seededRng();
  const size_t words = 1001, halves = 777;
  void *buffer = mgpuMemAlloc(words * 4, nullptr, /*isHostShared=*/true);
  uint32_t pattern = rng.next32();
  uint16_t half = static_cast<uint16_t>(rng.next32());
  mgpuMemset32(buffer, pattern, words, nullptr);
  mgpuMemset16(buffer, half, halves, nullptr);
  std::vector<uint16_t> expected(words * 2), actual(words * 2);
  for (size_t i = 0; i < words; ++i) {
    expected[2 * i] = static_cast<uint16_t>(pattern);
    expected[2 * i + 1] = static_cast<uint16_t>(pattern >> 16);
  }
  std::fill_n(expected.begin(), halves, half);
  mgpuMemcpy(actual.data(), buffer, words * 4, nullptr);
  EXPECT_EQ(actual, expected);
  std::vector<uint16_t> copied(words * 2);
  ASSERT_TRUE(r2q::cuda::copyToHost(copied.data(), buffer, words * 4).ok());
  EXPECT_EQ(copied, expected);
  mgpuMemFree(buffer, nullptr);
  EXPECT_EQ(mgpuMemAlloc(0, nullptr, false), nullptr);
}

TEST(CudaRuntimeOnFakeDriver, LoadsPtxWithTheJitLevel) {
  void *module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 2);
  EXPECT_EQ(fakeCudaLastJitOptLevel(), 2);
  EXPECT_NE(mgpuModuleGetFunction(module, "r2q_vadd"), nullptr);
  mgpuModuleUnload(module);
  mgpuModuleUnload(mgpuModuleLoadJIT(const_cast<char *>(kPtx), 9));
  EXPECT_EQ(fakeCudaLastJitOptLevel(), 4) << "levels above 4 are clamped";
  // PTX with a size and no NUL: copied and terminated, JIT-compiled at -O4.
  std::vector<char> unterminated(kPtx, kPtx + std::strlen(kPtx));
  module = mgpuModuleLoad(unterminated.data(), unterminated.size());
  EXPECT_EQ(fakeCudaLastJitOptLevel(), 4);
  EXPECT_NE(mgpuModuleGetFunction(module, "r2q_vadd_shared"), nullptr);
  mgpuModuleUnload(module);
}

TEST(CudaRuntimeOnFakeDriver, LaunchesOverRaggedGrids) {
  Rng rng = seededRng();
  void *module = loadModule();
  void *vadd = mgpuModuleGetFunction(module, "r2q_vadd");
  for (uint32_t n : {1u, 255u, 257u, 1000u}) {
    VectorAdd data(n, rng);
    intptr_t blocks = (n + 127) / 128;
    mgpuLaunchKernel(vadd, blocks, 1, 1, 128, 1, 1, 0, nullptr, data.params(),
                     nullptr, 4);
    EXPECT_EQ(data.result(), data.sum) << "n = " << n;
    EXPECT_EQ(fakeCudaLastClusterX(), 0u);
  }
  mgpuModuleUnload(module);
}

// A grid without blocks is a parallel loop of no iterations in lowered code
// (a dynamic size of zero): nothing runs, nothing fails.
TEST(CudaRuntimeOnFakeDriver, EmptyGridsLaunchNothing) {
  Rng rng = seededRng();
  void *module = loadModule();
  void *vadd = mgpuModuleGetFunction(module, "r2q_vadd");
  VectorAdd data(100, rng);
  mgpuLaunchKernel(vadd, 0, 1, 1, 128, 1, 1, 0, nullptr, data.params(), nullptr,
                   4);
  mgpuLaunchKernel(vadd, 1, 0, 1, 128, 1, 1, 0, nullptr, data.params(), nullptr,
                   4);
  mgpuLaunchClusterKernel(vadd, 1, 1, 1, 1, 1, 0, 128, 1, 1, 0, nullptr,
                          data.params(), nullptr, 4);
  // The output keeps the NaN pattern it was filled with.
  for (float value : data.result()) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    EXPECT_EQ(bits, 0x7fc0deadu);
  }
  mgpuModuleUnload(module);
}

TEST(CudaRuntimeOnFakeDriver, OptsInToLargeSharedMemory) {
  Rng rng = seededRng();
  void *module = loadModule();
  void *shared = mgpuModuleGetFunction(module, "r2q_vadd_shared");
  VectorAdd data(300, rng);
  const long optIns = fakeCudaSharedMemoryOptIns();
  mgpuLaunchKernel(shared, 3, 1, 1, 128, 1, 1, 160 * 1024, nullptr,
                   data.params(), nullptr, 4);
  EXPECT_EQ(data.result(), data.sum);
  EXPECT_EQ(fakeCudaSharedMemoryOptIns(), optIns + 1);
  // Once per kernel for the most it asked for, also when lowered code
  // looks the kernel up again before each launch, as it does.
  shared = mgpuModuleGetFunction(module, "r2q_vadd_shared");
  mgpuLaunchKernel(shared, 3, 1, 1, 128, 1, 1, 100 * 1024, nullptr,
                   data.params(), nullptr, 4);
  mgpuLaunchKernel(shared, 3, 1, 1, 128, 1, 1, 160 * 1024, nullptr,
                   data.params(), nullptr, 4);
  EXPECT_EQ(fakeCudaSharedMemoryOptIns(), optIns + 1);
  mgpuLaunchKernel(shared, 3, 1, 1, 128, 1, 1, 200 * 1024, nullptr,
                   data.params(), nullptr, 4);
  EXPECT_EQ(fakeCudaSharedMemoryOptIns(), optIns + 2);
  EXPECT_EQ(data.result(), data.sum);
  // A module loaded again starts without the opt-in.
  mgpuModuleUnload(module);
  module = loadModule();
  shared = mgpuModuleGetFunction(module, "r2q_vadd_shared");
  mgpuLaunchKernel(shared, 3, 1, 1, 128, 1, 1, 160 * 1024, nullptr,
                   data.params(), nullptr, 4);
  EXPECT_EQ(fakeCudaSharedMemoryOptIns(), optIns + 3);
  EXPECT_DEATH(mgpuLaunchKernel(shared, 3, 1, 1, 128, 1, 1, 300 * 1024, nullptr,
                                data.params(), nullptr, 4),
               "r2q: CUDA error: cuFuncSetAttribute \\(max dynamic shared "
               "memory 307200 bytes\\) for kernel 'r2q_vadd_shared': "
               "CUDA_ERROR_INVALID_VALUE");
  mgpuModuleUnload(module);
}

// The harness's view of a kernel: the driver's attributes and occupancy
// for the launch's block (the fake: 40 registers, an SM of 2048 threads,
// 64K registers and 228 KiB of shared memory, 1 KiB reserved per block).
TEST(CudaRuntimeOnFakeDriver, DescribesAKernelAndItsOccupancy) {
  void *module = loadModule();
  void *plain = mgpuModuleGetFunction(module, "r2q_vadd");
  void *shared = mgpuModuleGetFunction(module, "r2q_vadd_shared");
  R2QCudaKernelInfo info;
  ASSERT_EQ(r2qCudaKernelInfo(plain, 128, 0, &info), 0) << r2qCudaLastError();
  EXPECT_EQ(info.registers, 40);
  EXPECT_EQ(info.localBytes, 0);
  EXPECT_EQ(info.staticSharedBytes, 0);
  EXPECT_EQ(info.binaryVersion, 90);
  EXPECT_EQ(info.blocksPerSM, 12); // registers: 65536 / (40 x 128)
  ASSERT_EQ(r2qCudaKernelInfo(plain, 1024, 0, &info), 0);
  EXPECT_EQ(info.blocksPerSM, 1); // registers: 65536 / 40960
  ASSERT_EQ(r2qCudaKernelInfo(shared, 128, 64 * 1024, &info), 0);
  EXPECT_EQ(info.staticSharedBytes, 8 * 1024);
  EXPECT_EQ(info.blocksPerSM, 3); // shared: 228 KiB / (8 + 64 + 1 KiB)
  EXPECT_NE(r2qCudaKernelInfo(plain, 2048, 0, &info), 0);
  EXPECT_NE(std::string(r2qCudaLastError())
                .find("cuOccupancyMaxActiveBlocksPerMultiprocessor"),
            std::string::npos);
  mgpuModuleUnload(module);
}

TEST(CudaRuntimeOnFakeDriver, LaunchesClusters) {
  Rng rng = seededRng();
  void *module = loadModule();
  VectorAdd data(1000, rng);
  mgpuLaunchClusterKernel(mgpuModuleGetFunction(module, "r2q_vadd"), 2, 1, 1, 8,
                          1, 1, 128, 1, 1, 0, nullptr, data.params(), nullptr,
                          4);
  EXPECT_EQ(data.result(), data.sum);
  EXPECT_EQ(fakeCudaLastClusterX(), 2u);
  mgpuModuleUnload(module);
}

TEST(CudaRuntimeOnFakeDriverDeathTest, ErrorsNameTheCallAndTheKernel) {
  void *module = loadModule();
  EXPECT_DEATH(mgpuModuleGetFunction(module, "no_such_kernel"),
               "^r2q: CUDA error: cuModuleGetFunction for kernel "
               "'no_such_kernel': CUDA_ERROR_NOT_FOUND \\(named symbol not "
               "found\\)\nr2q: mgpuModuleGetFunction cannot return an error "
               "to the lowered code; aborting\n");
  void *faulty = mgpuModuleGetFunction(module, "r2q_faulty");
  EXPECT_DEATH(mgpuLaunchKernel(faulty, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr,
                                nullptr, 0),
               "^r2q: CUDA error: cuLaunchKernel for kernel 'r2q_faulty': "
               "CUDA_ERROR_ILLEGAL_ADDRESS");
  void *vadd = mgpuModuleGetFunction(module, "r2q_vadd");
  EXPECT_DEATH(mgpuLaunchKernel(vadd, -1, 1, 1, 32, 1, 1, 0, nullptr, nullptr,
                                nullptr, 0),
               "^r2q: cannot launch kernel 'r2q_vadd': grid \\(-1, 1, 1\\) "
               "has a dimension outside \\[1, 2\\^32-1\\]");
  EXPECT_DEATH(mgpuLaunchClusterKernel(vadd, 2, 1, 1, 3, 1, 1, 32, 1, 1, 0,
                                       nullptr, nullptr, nullptr, 0),
               "^r2q: CUDA error: cuLaunchKernelEx for kernel 'r2q_vadd'");
  EXPECT_DEATH(mgpuSetDefaultDevice(3),
               "^r2q: CUDA device 3 does not exist \\(the driver reports 1\\)");
  mgpuModuleUnload(module);
}

// Device buffers of lowered code come from the device's memory pool on
// the call's stream, and a free on a stream (gpu.dealloc in a chain of
// async GPU ops) gives them back on that stream, without waiting: the
// stream's later work cannot overlap the kernels before. The pool keeps
// what is given back, for the next calls. A managed buffer, which is not
// the pool's, is freed after the stream's work instead; a harness frees a
// pool's buffer (a returned result) after the device's work.
TEST(CudaRuntimeOnFakeDriver, FreesAfterTheStreamsWork) {
  if (memoryPoolSwitchedOff())
    GTEST_SKIP() << "the memory pool is switched off";
  void *stream = mgpuStreamCreate();
  const auto handle = reinterpret_cast<uintptr_t>(stream);
  const long pooled = fakeCudaPoolAllocations();
  void *device = mgpuMemAlloc(256, stream, /*isHostShared=*/false);
  void *managed = mgpuMemAlloc(256, stream, /*isHostShared=*/true);
  void *result = mgpuMemAlloc(64, stream, /*isHostShared=*/false);
  EXPECT_EQ(fakeCudaPoolAllocations(), pooled + 2);
  EXPECT_EQ(fakeCudaPoolKeepsAll(device), 1);
  EXPECT_EQ(fakeCudaPoolKeepsAll(managed), -1);
  for (void *buffer : {device, result}) // as cuMemAlloc's, for wide loads
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer) % 256, 0u);
  // Without a stream the allocation would not be ordered before the work
  // of other streams: cuMemAlloc's memory, freed after the device's work.
  void *unordered = mgpuMemAlloc(64, nullptr, /*isHostShared=*/false);
  EXPECT_EQ(fakeCudaPoolAllocations(), pooled + 2);
  mgpuMemFree(unordered, nullptr);
  const long live = fakeCudaLiveAllocations();
  // (A handle of an earlier test's stream may be reused: count from here.)
  const long waits = fakeCudaStreamSynchronizations(handle);
  const long ordered = fakeCudaStreamOrderedFrees();
  mgpuMemFree(device, stream);
  EXPECT_EQ(fakeCudaStreamSynchronizations(handle), waits);
  EXPECT_EQ(fakeCudaStreamOrderedFrees(), ordered + 1);
  EXPECT_EQ(fakeCudaLiveAllocations(), live - 1);
  mgpuMemFree(managed, stream);
  EXPECT_EQ(fakeCudaStreamSynchronizations(handle), waits + 1);
  EXPECT_EQ(fakeCudaLiveAllocations(), live - 2);
  mgpuMemFree(nullptr, stream); // nothing to free, nothing to wait for
  EXPECT_EQ(fakeCudaStreamSynchronizations(handle), waits + 1);
  const long deviceWaits = fakeCudaContextSynchronizations();
  EXPECT_EQ(r2qCudaFree(result), 0) << r2qCudaLastError();
  EXPECT_EQ(fakeCudaContextSynchronizations(), deviceWaits + 1);
  EXPECT_EQ(fakeCudaLiveAllocations(), live - 3);
  EXPECT_EQ(fakeCudaStreamOrderedFrees(), ordered + 1);
  mgpuStreamDestroy(stream);
}

// An allocation that runs out of device memory waits for the device,
// gives back what the pools hold unused and tries again, for the pool's buffers
// and cuMemAlloc's.
TEST(CudaRuntimeOnFakeDriver, TrimsThePoolsWhenMemoryRunsOut) {
  if (memoryPoolSwitchedOff())
    GTEST_SKIP() << "the memory pool is switched off";
  void *stream = mgpuStreamCreate();
  mgpuMemFree(mgpuMemAlloc(64, stream, /*isHostShared=*/false), stream);
  for (bool managed : {false, true}) {
    const long trims = fakeCudaPoolTrims();
    const long deviceWaits = fakeCudaContextSynchronizations();
    fakeCudaFailAllocationsUntilTrim();
    r2q::cuda::LoweredCodeErrors errors;
    void *buffer = mgpuMemAlloc(4096, stream, managed);
    EXPECT_TRUE(errors.end().ok());
    EXPECT_EQ(fakeCudaPoolTrims(), trims + 1) << "managed: " << managed;
    // Buffers given back on a stream are trimmable once the host has seen
    // the stream reach them.
    EXPECT_EQ(fakeCudaContextSynchronizations(), deviceWaits + 1);
    EXPECT_EQ(fakeCudaPoolKeepsAll(buffer), managed ? -1 : 1);
    mgpuMemFree(buffer, stream);
  }
  mgpuStreamDestroy(stream);
}

// A pool's buffer that a harness frees from a thread whose default device
// is another is freed, after its own device's work, in that device's
// context (the fake refuses a free in another).
TEST(CudaRuntimeOnFakeDriver, FreesAPoolsBufferOnItsDevice) {
  if (fakeDevices() < 2)
    GTEST_SKIP() << "one fake device (R2Q_FAKE_CUDA_DEVICES=2 makes two)";
  BackOnDeviceZero backOnDeviceZero;
  ASSERT_EQ(r2qCudaSetDevice(1), 0);
  void *stream = mgpuStreamCreate();
  void *result = mgpuMemAlloc(512, stream, /*isHostShared=*/false);
  EXPECT_EQ(fakeCudaPoolKeepsAll(result), 1);
  mgpuStreamDestroy(stream);
  const long live = fakeCudaLiveAllocations();
  ASSERT_EQ(r2qCudaSetDevice(0), 0);
  EXPECT_EQ(r2qCudaFree(result), 0) << r2qCudaLastError();
  EXPECT_EQ(fakeCudaLiveAllocations(), live - 1);
}

// R2Q_CUDA_MEMORY_POOL=0 (test/Runtime/fake-driver-no-memory-pool.mlir):
// lowered code's device buffers come from cuMemAlloc, and a free on a
// stream waits for the stream's work first.
TEST(CudaRuntimeOnFakeDriver, MemoryPoolCanBeSwitchedOff) {
  if (!memoryPoolSwitchedOff())
    GTEST_SKIP() << "R2Q_CUDA_MEMORY_POOL=0 switches the pool off";
  void *stream = mgpuStreamCreate();
  const auto handle = reinterpret_cast<uintptr_t>(stream);
  const long pooled = fakeCudaPoolAllocations();
  void *device = mgpuMemAlloc(256, stream, /*isHostShared=*/false);
  EXPECT_EQ(fakeCudaPoolAllocations(), pooled);
  EXPECT_EQ(fakeCudaPoolKeepsAll(device), -1);
  const long live = fakeCudaLiveAllocations();
  const long waits = fakeCudaStreamSynchronizations(handle);
  mgpuMemFree(device, stream);
  EXPECT_EQ(fakeCudaStreamSynchronizations(handle), waits + 1);
  EXPECT_EQ(fakeCudaLiveAllocations(), live - 1);
  mgpuStreamDestroy(stream);
}

// mgpuStreamDestroy keeps the runtime's streams for the next call on their
// device, so calls after the first create and destroy no stream; two live
// at once are two (also after a stream was given back twice), a stream of
// another device is not handed out, and a stream the runtime did not make
// is destroyed.
TEST(CudaRuntimeOnFakeDriver, ReusesItsStreams) {
  mgpuStreamDestroy(mgpuStreamCreate());
  const long created = fakeCudaStreamsCreated();
  const long destroyed = fakeCudaStreamsDestroyed();
  void *first = mgpuStreamCreate();
  for (int call = 0; call < 3; ++call) {
    mgpuStreamDestroy(first);
    EXPECT_EQ(mgpuStreamCreate(), first);
  }
  EXPECT_EQ(fakeCudaStreamsCreated(), created);
  void *second = mgpuStreamCreate();
  EXPECT_NE(second, first);
  mgpuStreamDestroy(second);
  mgpuStreamDestroy(second);
  mgpuStreamDestroy(first);
  void *third = mgpuStreamCreate(), *fourth = mgpuStreamCreate();
  void *fifth = mgpuStreamCreate();
  EXPECT_NE(third, fourth);
  EXPECT_NE(fifth, third);
  EXPECT_NE(fifth, fourth);
  for (void *stream : {third, fourth, fifth})
    mgpuStreamDestroy(stream);
  EXPECT_EQ(fakeCudaStreamsDestroyed(), destroyed);
  void *harnessStream = nullptr;
  ASSERT_EQ(r2qCudaStreamCreate(&harnessStream), 0) << r2qCudaLastError();
  mgpuStreamDestroy(harnessStream);
  EXPECT_EQ(fakeCudaStreamsDestroyed(), destroyed + 1);

  if (fakeDevices() < 2)
    return;
  BackOnDeviceZero backOnDeviceZero;
  ASSERT_EQ(r2qCudaSetDevice(1), 0);
  void *onDeviceOne = mgpuStreamCreate();
  mgpuStreamDestroy(onDeviceOne);
  ASSERT_EQ(r2qCudaSetDevice(0), 0);
  void *onDeviceZero = mgpuStreamCreate();
  EXPECT_NE(onDeviceZero, onDeviceOne);
  mgpuStreamDestroy(onDeviceZero);
}

// Between r2qCudaBeginCallStream and r2qCudaEndCallStream lowered code runs
// on the caller's stream: mgpuStreamCreate returns it (creating nothing),
// launches and the pool's allocations and frees use it, mgpuStreamDestroy
// leaves it. Null is the legacy default stream; calls nest.
TEST(CudaRuntimeOnFakeDriver, RunsOnTheCallersStream) {
  Rng rng = seededRng();
  void *callers = nullptr;
  ASSERT_EQ(r2qCudaStreamCreate(&callers), 0) << r2qCudaLastError();
  const auto callersHandle = reinterpret_cast<uintptr_t>(callers);
  void *module = loadModule();
  void *vadd = mgpuModuleGetFunction(module, "r2q_vadd");
  const long created = fakeCudaStreamsCreated();
  const long destroyed = fakeCudaStreamsDestroyed();
  const long pooled = fakeCudaPoolAllocations();
  ASSERT_EQ(r2qCudaBeginCallStream(callers), 0) << r2qCudaLastError();
  void *stream = mgpuStreamCreate();
  EXPECT_EQ(stream, callers);
  VectorAdd data(300, rng);
  mgpuLaunchKernel(vadd, 3, 1, 1, 128, 1, 1, 0, stream, data.params(), nullptr,
                   4);
  EXPECT_EQ(fakeCudaLastLaunchStream(), callersHandle);
  EXPECT_EQ(data.result(), data.sum);
  void *buffer = mgpuMemAlloc(64, stream, /*isHostShared=*/false);
  if (!memoryPoolSwitchedOff())
    EXPECT_EQ(fakeCudaLastPoolStream(), callersHandle);
  ASSERT_EQ(r2qCudaBeginCallStream(nullptr), 0) << r2qCudaLastError();
  void *legacy = mgpuStreamCreate();
  const auto legacyHandle = uintptr_t(0x1); // CU_STREAM_LEGACY
  EXPECT_EQ(legacy, reinterpret_cast<void *>(legacyHandle));
  void *onLegacy = mgpuMemAlloc(64, legacy, /*isHostShared=*/false);
  if (!memoryPoolSwitchedOff())
    EXPECT_EQ(fakeCudaLastPoolStream(), legacyHandle);
  mgpuMemFree(onLegacy, legacy);
  mgpuStreamDestroy(legacy);
  EXPECT_EQ(r2qCudaEndCallStream(), 0);
  EXPECT_EQ(mgpuStreamCreate(), callers);
  mgpuMemFree(buffer, stream);
  if (!memoryPoolSwitchedOff())
    EXPECT_EQ(fakeCudaLastPoolStream(), callersHandle);
  const long waits = fakeCudaStreamSynchronizations(callersHandle);
  mgpuStreamSynchronize(stream);
  EXPECT_EQ(fakeCudaStreamSynchronizations(callersHandle), waits + 1);
  mgpuStreamDestroy(stream);
  EXPECT_EQ(r2qCudaEndCallStream(), 0);
  EXPECT_EQ(fakeCudaStreamsCreated(), created);
  EXPECT_EQ(fakeCudaStreamsDestroyed(), destroyed);
  if (!memoryPoolSwitchedOff())
    EXPECT_EQ(fakeCudaPoolAllocations(), pooled + 2);

  void *own = mgpuStreamCreate();
  EXPECT_NE(own, callers);
  mgpuStreamDestroy(own);
  EXPECT_EQ(r2qCudaEndCallStream(), -1);
  EXPECT_STREQ(r2qCudaLastError(),
               "r2q: r2qCudaEndCallStream without a caller's stream");
  EXPECT_EQ(r2qCudaStreamDestroy(callers), 0) << r2qCudaLastError();
  mgpuModuleUnload(module);
}

// A stream that lowered code cannot run on is refused, and calls go on as
// without one: a handle the driver does not know, a stream capturing a CUDA
// graph, a device without concurrent managed access; with two devices, a
// stream of another device's context, and a call stream begun on device 0
// while lowered code switched to device 1.
TEST(CudaRuntimeOnFakeDriver, RefusesStreamsItCannotRunOn) {
  void *callers = nullptr;
  ASSERT_EQ(r2qCudaStreamCreate(&callers), 0) << r2qCudaLastError();
  auto refusal = [](void *stream) {
    EXPECT_EQ(r2qCudaBeginCallStream(stream), -1);
    void *own = mgpuStreamCreate();
    EXPECT_NE(own, stream);
    mgpuStreamDestroy(own);
    return std::string(r2qCudaLastError());
  };
  EXPECT_EQ(refusal(reinterpret_cast<void *>(0x999)),
            "r2q: CUDA error: cuStreamGetCtx: CUDA_ERROR_INVALID_HANDLE (fake "
            "description)");
  fakeCudaSetCapturing(reinterpret_cast<uintptr_t>(callers), 1);
  EXPECT_EQ(refusal(callers),
            "r2q: the caller's stream is capturing a CUDA graph, and a call "
            "synchronizes its stream before it returns");
  fakeCudaSetCapturing(reinterpret_cast<uintptr_t>(callers), 0);
  fakeCudaSetConcurrentManagedAccess(0);
  EXPECT_NE(refusal(callers).find("CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_"
                                  "ACCESS is 0"),
            std::string::npos);
  fakeCudaSetConcurrentManagedAccess(1);
  EXPECT_EQ(r2qCudaEndCallStream(), -1); // nothing was begun

  if (fakeDevices() >= 2) {
    BackOnDeviceZero backOnDeviceZero;
    ASSERT_EQ(r2qCudaSetDevice(1), 0);
    void *onDeviceOne = nullptr;
    ASSERT_EQ(r2qCudaStreamCreate(&onDeviceOne), 0) << r2qCudaLastError();
    ASSERT_EQ(r2qCudaSetDevice(0), 0);
    EXPECT_EQ(refusal(onDeviceOne),
              "r2q: the caller's stream belongs to another CUDA context than "
              "the primary context of device 0, where the call runs");
    ASSERT_EQ(r2qCudaBeginCallStream(callers), 0) << r2qCudaLastError();
    mgpuSetDefaultDevice(1);
    void *switched = mgpuStreamCreate();
    EXPECT_NE(switched, callers);
    mgpuStreamDestroy(switched);
    mgpuSetDefaultDevice(0);
    EXPECT_EQ(mgpuStreamCreate(), callers);
    EXPECT_EQ(r2qCudaEndCallStream(), 0);
    ASSERT_EQ(r2qCudaSetDevice(1), 0);
    EXPECT_EQ(r2qCudaStreamDestroy(onDeviceOne), 0) << r2qCudaLastError();
  }
  EXPECT_EQ(r2qCudaStreamDestroy(callers), 0) << r2qCudaLastError();
}

// r2qCudaFreeOnStream gives a pool's buffer back in the stream's order, with
// no wait; where the driver refuses the stream, the error is returned and
// the buffer freed after the device's work instead.
TEST(CudaRuntimeOnFakeDriver, FreesOnTheCallersStream) {
  if (memoryPoolSwitchedOff())
    GTEST_SKIP() << "the memory pool is switched off";
  void *stream = mgpuStreamCreate();
  void *result = mgpuMemAlloc(64, stream, /*isHostShared=*/false);
  void *other = mgpuMemAlloc(64, stream, /*isHostShared=*/false);
  mgpuStreamSynchronize(stream);
  const long live = fakeCudaLiveAllocations();
  const long ordered = fakeCudaStreamOrderedFrees();
  const long deviceWaits = fakeCudaContextSynchronizations();
  EXPECT_EQ(r2qCudaFreeOnStream(result, stream), 0) << r2qCudaLastError();
  EXPECT_EQ(fakeCudaStreamOrderedFrees(), ordered + 1);
  EXPECT_EQ(fakeCudaContextSynchronizations(), deviceWaits);
  EXPECT_EQ(fakeCudaLiveAllocations(), live - 1);
  EXPECT_EQ(r2qCudaFreeOnStream(other, reinterpret_cast<void *>(0x999)), -1);
  EXPECT_STREQ(r2qCudaLastError(), "r2q: CUDA error: cuMemFreeAsync: "
                                   "CUDA_ERROR_INVALID_HANDLE (fake "
                                   "description)");
  EXPECT_EQ(fakeCudaContextSynchronizations(), deviceWaits + 1);
  EXPECT_EQ(fakeCudaLiveAllocations(), live - 2);
  mgpuStreamDestroy(stream);
}

// r2qCudaTrimMemoryPools gives the pools' unused memory back, each after
// waiting for its device (with two fake devices, both).
TEST(CudaRuntimeOnFakeDriver, TrimsThePoolsOnRequest) {
  if (memoryPoolSwitchedOff())
    GTEST_SKIP() << "the memory pool is switched off";
  const int devices = std::min(fakeDevices(), 2);
  BackOnDeviceZero backOnDeviceZero;
  for (int device = 0; device < devices; ++device) {
    ASSERT_EQ(r2qCudaSetDevice(device), 0);
    void *stream = mgpuStreamCreate();
    mgpuMemFree(mgpuMemAlloc(64, stream, /*isHostShared=*/false), stream);
    mgpuStreamDestroy(stream);
  }
  ASSERT_EQ(r2qCudaSetDevice(0), 0);
  const long trims = fakeCudaPoolTrims();
  const long deviceWaits = fakeCudaContextSynchronizations();
  EXPECT_EQ(r2qCudaTrimMemoryPools(), 0) << r2qCudaLastError();
  EXPECT_EQ(fakeCudaPoolTrims(), trims + devices);
  EXPECT_EQ(fakeCudaContextSynchronizations(), deviceWaits + devices);
  EXPECT_EQ(fakeCudaContextDepth(), 0);
}

// Lowered code called inside an error scope: the first failure (here an
// allocation the fake refuses) is returned by the scope's end, nothing is
// launched after it, allocations after it are host memory that host code
// may write, and what was made before it is still freed.
TEST(CudaRuntimeOnFakeDriver, ErrorScopeReturnsTheFirstFailure) {
  Rng rng = seededRng();
  void *module = loadModule();
  void *vadd = mgpuModuleGetFunction(module, "r2q_vadd");
  VectorAdd data(1000, rng);
  const long liveBefore = fakeCudaLiveAllocations();
  const long launchesBefore = fakeCudaLaunches();
  r2q::cuda::Status status;
  {
    r2q::cuda::LoweredCodeErrors errors;
    void *stream = mgpuStreamCreate();
    void *before = mgpuMemAlloc(4000, stream, /*isHostShared=*/false);
    fakeCudaFailAllocationsAbove(1 << 20);
    void *refused = mgpuMemAlloc(3 << 20, stream, /*isHostShared=*/true);
    fakeCudaFailAllocationsAbove(0);
    void *after = mgpuMemAlloc(64, stream, /*isHostShared=*/true);
    ASSERT_NE(refused, nullptr);
    ASSERT_NE(after, nullptr);
    std::memset(refused, 0x5a, 3 << 20);
    std::memset(after, 0x5a, 64);
    EXPECT_EQ(fakeCudaLiveAllocations(), liveBefore + 1);
    mgpuMemcpy(data.deviceC, data.deviceA, 4000, stream);
    mgpuLaunchKernel(vadd, 8, 1, 1, 128, 1, 1, 0, stream, data.params(),
                     nullptr, 4);
    // Waits still run: kernels launched before the failure may be running.
    const auto handle = reinterpret_cast<uintptr_t>(stream);
    const long waits = fakeCudaStreamSynchronizations(handle);
    mgpuStreamSynchronize(stream);
    EXPECT_EQ(fakeCudaStreamSynchronizations(handle), waits + 1);
    for (void *buffer : {before, refused, after})
      mgpuMemFree(buffer, stream);
    mgpuStreamDestroy(stream);
    status = errors.end();
  }
  EXPECT_EQ(status.error, "r2q: CUDA error: cuMemAllocManaged: "
                          "CUDA_ERROR_OUT_OF_MEMORY (fake description) "
                          "(allocating 3145728 bytes)");
  EXPECT_EQ(fakeCudaLaunches(), launchesBefore);
  EXPECT_EQ(fakeCudaLiveAllocations(), liveBefore);
  for (float value : data.result()) { // neither copied to nor added
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    ASSERT_EQ(bits, 0x7fc0deadu);
  }
  // The next scope starts afresh.
  r2q::cuda::LoweredCodeErrors errors;
  mgpuLaunchKernel(vadd, 8, 1, 1, 128, 1, 1, 0, nullptr, data.params(), nullptr,
                   4);
  EXPECT_TRUE(errors.end().ok());
  EXPECT_EQ(data.result(), data.sum);
  mgpuModuleUnload(module);
}

// A fault names its kernel and says the context is lost; inner scopes
// report the failure and leave the outer one failed; only the outermost
// waits for the device; a failed module load leaves null handles that
// the later entry points pass over, and constants are not copied.
TEST(CudaRuntimeOnFakeDriver, ErrorScopesNestAndSkipTheRest) {
  Rng rng = seededRng();
  void *module = loadModule();
  void *faulty = mgpuModuleGetFunction(module, "r2q_faulty");
  void *vadd = mgpuModuleGetFunction(module, "r2q_vadd");
  VectorAdd data(300, rng);
  const long launches = fakeCudaLaunches();
  const long waits = fakeCudaContextSynchronizations();
  r2qCudaBeginErrorScope();
  r2qCudaBeginErrorScope();
  mgpuLaunchKernel(faulty, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  mgpuLaunchKernel(vadd, 3, 1, 1, 128, 1, 1, 0, nullptr, data.params(), nullptr,
                   4);
  EXPECT_EQ(fakeCudaLaunches(), launches + 1);
  EXPECT_EQ(r2qCudaEndErrorScope(), -1);
  const std::string fault =
      "r2q: CUDA error: cuLaunchKernel for kernel 'r2q_faulty': "
      "CUDA_ERROR_ILLEGAL_ADDRESS (fake description); a kernel faulted, so "
      "the GPU's context is unusable and every later CUDA call of this "
      "process fails";
  EXPECT_EQ(r2qCudaLastError(), fault);
  EXPECT_EQ(fakeCudaContextSynchronizations(), waits);
  mgpuLaunchKernel(vadd, 3, 1, 1, 128, 1, 1, 0, nullptr, data.params(), nullptr,
                   4);
  EXPECT_EQ(fakeCudaLaunches(), launches + 1);
  EXPECT_EQ(r2qCudaEndErrorScope(), -1);
  EXPECT_EQ(r2qCudaLastError(), fault);
  EXPECT_EQ(fakeCudaContextSynchronizations(), waits + 1);
  EXPECT_EQ(r2qCudaEndErrorScope(), -1);
  EXPECT_STREQ(r2qCudaLastError(),
               "r2q: r2qCudaEndErrorScope without an open error scope");

  char broken[] = ".version 7.8\n.target sm_80\n.visible .entry b()\n"
                  "{\n  not.an.instruction;\n}\n";
  float weights[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  void *slot = nullptr;
  r2q::cuda::Status status;
  {
    r2q::cuda::LoweredCodeErrors errors;
    void *failed = mgpuModuleLoadJIT(broken, 2);
    EXPECT_EQ(failed, nullptr);
    EXPECT_EQ(mgpuModuleGetFunction(failed, "b"), nullptr);
    EXPECT_EQ(mgpuStreamCreate(), nullptr);
    EXPECT_EQ(r2qCudaDeviceConstant(&slot, weights, sizeof(weights), 0),
              weights);
    EXPECT_EQ(slot, nullptr);
    r2qCudaReleaseDeviceConstant(&slot);
    mgpuStreamDestroy(nullptr);
    mgpuModuleUnload(failed);
    status = errors.end();
  }
  const std::string jitError =
      "r2q: CUDA error: cuModuleLoadDataEx (PTX JIT): "
      "CUDA_ERROR_INVALID_PTX (fake description)\nr2q: JIT error log:\n"
      "fake ptxas: line 5: unknown instruction 'not.an.instruction'";
  EXPECT_EQ(status.error, jitError);
  // A later call looking up a kernel in the module that did not load says
  // why it did not.
  r2q::cuda::LoweredCodeErrors later;
  EXPECT_EQ(mgpuModuleGetFunction(nullptr, "b"), nullptr);
  EXPECT_EQ(later.end().error, "r2q: cannot look up kernel 'b': its module "
                               "was not loaded (the last failed load: " +
                                   jitError + ")");
  mgpuModuleUnload(module);
}

const char kMisalignedBuffer[] =
    "argument 1 of @main (memref<2x64xi8>, operand 1 of kernel @k::@k)";

/// "r2q: <kMisalignedBuffer> starts at address <address>, not at a multiple
/// of <alignment> bytes ...": r2qCudaCheckAlignment's message.
std::string misalignment(uint64_t address, uint64_t alignment) {
  char hex[32];
  std::snprintf(hex, sizeof(hex), "0x%llx",
                static_cast<unsigned long long>(address));
  return std::string("r2q: ") + kMisalignedBuffer + " starts at address " +
         hex + ", not at a multiple of " + std::to_string(alignment) +
         " bytes as the kernel's loads of it require; pass memory that "
         "cuMemAlloc returned (256-byte aligned), or a view of it that "
         "starts at such a multiple";
}

/// A random address that is a multiple of `alignment` plus `misalignment`.
uint64_t addressOff(Rng &rng, uint64_t alignment, uint64_t misalignment) {
  auto page = static_cast<uint64_t>(rng.uniform() * (1u << 30));
  return (uint64_t{0x7f} << 40) + page * alignment + misalignment;
}

// After a kernel's fault the context is lost: every call fails with the
// fault, the waits before a release included (r2qCudaFreeOnStream waits for
// the stream: the fault is its error), but the releases themselves report
// nothing (their resources went with the context), so lowered code's module
// destructors at exit do not abort the process (a failed mgpu* call outside
// an error scope does). Whether or not the driver still makes the lost
// context current.
TEST(CudaRuntimeOnFakeDriver, ReleasesInALostContextHaveNothingToRelease) {
  for (bool pushesFail : {false, true}) {
    SCOPED_TRACE(pushesFail ? "pushes fail" : "pushes work");
    void *module = loadModule();
    void *stream = nullptr;
    ASSERT_EQ(r2qCudaStreamCreate(&stream), 0) << r2qCudaLastError();
    void *buffers[2] = {};
    for (void *&buffer : buffers)
      ASSERT_EQ(r2qCudaMalloc(&buffer, 256), 0) << r2qCudaLastError();
    fakeCudaLoseContext(true, pushesFail);
    auto lostContextError = [] {
      return std::string(r2qCudaLastError()).find("CUDA_ERROR_ILLEGAL_ADDRESS");
    };
    EXPECT_EQ(r2qCudaSynchronize(), -1);
    EXPECT_NE(lostContextError(), std::string::npos) << r2qCudaLastError();
    void *another = nullptr;
    EXPECT_EQ(r2qCudaMalloc(&another, 256), -1);
    EXPECT_EQ(r2qCudaFreeOnStream(buffers[0], stream), -1);
    EXPECT_NE(lostContextError(), std::string::npos) << r2qCudaLastError();
    EXPECT_EQ(r2qCudaFree(buffers[1]), 0) << r2qCudaLastError();
    EXPECT_EQ(r2qCudaStreamDestroy(stream), 0) << r2qCudaLastError();
    mgpuModuleUnload(module);
    fakeCudaLoseContext(false, false);
  }
}

// The check that r2q-gpu-check-alignment emits before each launch: an
// aligned buffer passes; a misaligned one is the scope's error, naming the
// buffer and its address (a later one is not reported), and the launch
// after it is skipped.
TEST(CudaRuntimeOnFakeDriver, RefusesMisalignedBuffers) {
  Rng rng = seededRng();
  void *module = loadModule();
  void *vadd = mgpuModuleGetFunction(module, "r2q_vadd");
  VectorAdd data(256, rng);
  long launches = fakeCudaLaunches();
  auto checkAndLaunch = [&](uint64_t address, uint64_t alignment) {
    r2q::cuda::LoweredCodeErrors errors;
    r2qCudaCheckAlignment(address, alignment, kMisalignedBuffer);
    r2qCudaCheckAlignment(1, 2, "a later buffer");
    mgpuLaunchKernel(vadd, 2, 1, 1, 128, 1, 1, 0, nullptr, data.params(),
                     nullptr, 4);
    return errors.end();
  };
  for (uint64_t alignment : {8, 16}) {
    uint64_t off = 1 + static_cast<uint64_t>(rng.uniform() * (alignment - 1));
    uint64_t address = addressOff(rng, alignment, off);
    EXPECT_EQ(checkAndLaunch(address, alignment).error,
              misalignment(address, alignment));
    EXPECT_EQ(fakeCudaLaunches(), launches);
  }
  for (uint64_t alignment : {8, 16}) {
    r2q::cuda::LoweredCodeErrors errors;
    r2qCudaCheckAlignment(addressOff(rng, alignment, 0), alignment,
                          kMisalignedBuffer);
    mgpuLaunchKernel(vadd, 2, 1, 1, 128, 1, 1, 0, nullptr, data.params(),
                     nullptr, 4);
    EXPECT_TRUE(errors.end().ok());
    EXPECT_EQ(fakeCudaLaunches(), ++launches);
  }
  EXPECT_EQ(data.result(), data.sum);
  mgpuModuleUnload(module);
}

TEST(CudaRuntimeOnFakeDriverDeathTest, MisalignedBufferOutsideAScopeAborts) {
  EXPECT_DEATH(r2qCudaCheckAlignment(0x7f0000001008, 16, kMisalignedBuffer),
               "^r2q: argument 1 of @main \\(memref<2x64xi8>, operand 1 of "
               "kernel @k::@k\\) starts at address 0x7f0000001008, not at a "
               "multiple of 16 bytes as the kernel's loads of it require; "
               "pass memory that cuMemAlloc returned \\(256-byte aligned\\), "
               "or a view of it that starts at such a multiple\n"
               "r2q: r2qCudaCheckAlignment cannot return an error to the "
               "lowered code; aborting\n");
}

TEST(CudaRuntimeOnFakeDriver, HarnessApiReturnsJitLogAndKernelNames) {
  const char broken[] = ".version 7.8\n.target sm_80\n.visible .entry b()\n"
                        "{\n  not.an.instruction;\n}\n";
  auto failed = r2q::cuda::loadModule(broken, sizeof(broken));
  EXPECT_EQ(failed.error,
            "r2q: CUDA error: cuModuleLoadDataEx (PTX JIT): "
            "CUDA_ERROR_INVALID_PTX (fake description)\nr2q: JIT error log:\n"
            "fake ptxas: line 5: unknown instruction 'not.an.instruction'");
  EXPECT_EQ(failed.value, nullptr);
  auto module = r2q::cuda::loadModule(kPtx, sizeof(kPtx));
  ASSERT_TRUE(module.ok()) << module.error;
  auto missing = r2q::cuda::getFunction(module.value, "nope");
  EXPECT_EQ(missing.error, "r2q: CUDA error: cuModuleGetFunction for kernel "
                           "'nope': CUDA_ERROR_NOT_FOUND (named symbol not "
                           "found)");
  auto faulty = r2q::cuda::getFunction(module.value, "r2q_faulty");
  int64_t grid[3] = {1, 1, 1}, block[3] = {32, 1, 1};
  EXPECT_EQ(r2qCudaLaunch(faulty.value, grid, block, 0, nullptr, nullptr), -1);
  EXPECT_EQ(std::string(r2qCudaLastError()),
            "r2q: CUDA error: cuLaunchKernel for kernel 'r2q_faulty': "
            "CUDA_ERROR_ILLEGAL_ADDRESS (fake description); a kernel faulted, "
            "so the GPU's context is unusable and every later CUDA call of "
            "this process fails");
  EXPECT_EQ(r2qCudaModuleUnload(module.value), 0);
}

TEST(CudaRuntimeOnFakeDriver, TimesWithEvents) {
  auto start = r2q::cuda::createTimingEvent();
  auto end = r2q::cuda::createTimingEvent();
  ASSERT_TRUE(start.ok() && end.ok()) << start.error << end.error;
  EXPECT_TRUE(r2q::cuda::recordEvent(start.value).ok());
  EXPECT_TRUE(r2q::cuda::recordEvent(end.value).ok());
  auto ms = r2q::cuda::elapsedMilliseconds(start.value, end.value);
  ASSERT_TRUE(ms.ok()) << ms.error;
  EXPECT_EQ(ms.value, 1.5f);
  EXPECT_TRUE(r2q::cuda::destroyEvent(start.value).ok());
  EXPECT_TRUE(r2q::cuda::destroyEvent(end.value).ok());
}

/// Ranked memref descriptors as lowered code passes them.
template <int Rank> struct MemRef {
  void *allocated;
  void *aligned;
  int64_t offset, sizes[Rank], strides[Rank];
};

TEST(CudaRuntimeOnFakeDriver, RegistersTheMemRefsElements) {
  float data[32];
  MemRef<2> memref{data, data, 5, {3, 4}, {4, 1}};
  mgpuMemHostRegisterMemRef(2, &memref, sizeof(float));
  size_t bytes = 0;
  EXPECT_EQ(fakeCudaLastRegistered(&bytes), data + 5);
  EXPECT_EQ(bytes, 3 * 4 * sizeof(float));
  mgpuMemHostUnregisterMemRef(2, &memref, sizeof(float));
  EXPECT_EQ(fakeCudaLastRegistered(&bytes), nullptr);
}

TEST(CudaRuntimeOnFakeDriver, EncodesTensorMapsInnermostFirst) {
  // A 2 x 16 x 64 f16 view at element offset 8 of a 2 x 16 x 64 buffer,
  // boxes of 1 x 16 x 64.
  std::vector<uint16_t> data(8 + 2 * 16 * 64);
  MemRef<3> memref{data.data(), data.data(), 8, {2, 16, 64}, {1024, 64, 1}};
  int64_t box[3] = {1, 16, 64};
  void *map = mgpuTensorMapEncodeTiledMemref(3, &memref, /*FLOAT16=*/6, 0,
                                             /*SWIZZLE_128B=*/3, 0, 0, box);
  const r2q::test::FakeTensorMapCall &call = *fakeCudaLastTensorMap();
  EXPECT_EQ(call.dataType, 6);
  EXPECT_EQ(call.rank, 3u);
  EXPECT_EQ(call.address, data.data() + 8);
  EXPECT_EQ(call.dims[0], 64u);
  EXPECT_EQ(call.dims[1], 16u);
  EXPECT_EQ(call.dims[2], 2u);
  EXPECT_EQ(call.strides[0], 128u);
  EXPECT_EQ(call.strides[1], 2048u);
  EXPECT_EQ(call.box[0], 64u);
  EXPECT_EQ(call.box[1], 16u);
  EXPECT_EQ(call.box[2], 1u);
  EXPECT_EQ(call.swizzle, 3);
  // The encoded map (all 0x5a from the fake) was copied to device memory.
  std::vector<unsigned char> copied(128);
  ASSERT_TRUE(r2q::cuda::copyToHost(copied.data(), map, 128).ok());
  EXPECT_EQ(copied, std::vector<unsigned char>(128, 0x5a));
  mgpuMemFree(map, nullptr);
}

// A constant of lowered code is copied to the device on the first call for
// its slot only: later calls return that copy (made before the host data
// changed here), from any number of threads at once; releasing frees it and
// clears the slot, and an empty constant needs no device memory.
TEST(CudaRuntimeOnFakeDriver, CopiesEachConstantToTheDeviceOnce) {
  Rng rng = seededRng();
  std::vector<float> host(1531);
  for (float &value : host)
    value = static_cast<float>(rng.uniform() * 2 - 1);
  const std::vector<float> original = host;
  const size_t bytes = host.size() * sizeof(float);
  const long liveBefore = fakeCudaLiveAllocations();
  const uint64_t copiedBefore = fakeCudaBytesCopiedToDevice();

  void *slot = nullptr;
  void *copy = r2qCudaDeviceConstant(&slot, host.data(), bytes, false);
  ASSERT_NE(copy, nullptr);
  EXPECT_NE(copy, static_cast<void *>(host.data()));
  EXPECT_NE(slot, nullptr);
  host.assign(host.size(), 0.5f);
  EXPECT_EQ(r2qCudaDeviceConstant(&slot, host.data(), bytes, false), copy);
  std::vector<float> onDevice(host.size());
  ASSERT_TRUE(r2q::cuda::copyToHost(onDevice.data(), copy, bytes).ok());
  EXPECT_EQ(onDevice, original);
  EXPECT_EQ(fakeCudaLiveAllocations(), liveBefore + 1);
  EXPECT_EQ(fakeCudaBytesCopiedToDevice(), copiedBefore + bytes);

  void *shared = nullptr;
  std::vector<void *> seen(8);
  std::vector<std::thread> threads;
  for (void *&result : seen)
    threads.emplace_back([&] {
      result = r2qCudaDeviceConstant(&shared, original.data(), bytes, true);
    });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_NE(seen.front(), nullptr);
  EXPECT_EQ(seen, std::vector<void *>(seen.size(), seen.front()));
  EXPECT_EQ(fakeCudaLiveAllocations(), liveBefore + 2);

  r2qCudaReleaseDeviceConstant(&slot);
  r2qCudaReleaseDeviceConstant(&shared);
  EXPECT_EQ(slot, nullptr);
  EXPECT_EQ(shared, nullptr);
  r2qCudaReleaseDeviceConstant(&slot); // Released already: nothing to do.
  EXPECT_EQ(fakeCudaLiveAllocations(), liveBefore);

  void *empty = nullptr;
  EXPECT_EQ(r2qCudaDeviceConstant(&empty, host.data(), 0, false),
            static_cast<void *>(host.data()));
  EXPECT_EQ(empty, nullptr);
  EXPECT_EQ(fakeCudaLiveAllocations(), liveBefore);
}

// With two devices (R2Q_FAKE_CUDA_DEVICES=2, as
// test/Runtime/fake-driver-two-devices.mlir runs this binary), a constant
// gets a copy on each device its code runs on, made in that device's
// context, and releasing frees each in its own (the fake refuses a free in
// another context).
TEST(CudaRuntimeOnFakeDriver, CopiesAConstantToEachDevice) {
  if (fakeDevices() < 2)
    GTEST_SKIP() << "one fake device (R2Q_FAKE_CUDA_DEVICES=2 makes two)";
  Rng rng = seededRng();
  std::vector<float> host(777);
  for (float &value : host)
    value = static_cast<float>(rng.uniform());
  const size_t bytes = host.size() * sizeof(float);
  const long liveBefore = fakeCudaLiveAllocations();
  BackOnDeviceZero backOnDeviceZero;

  void *slot = nullptr;
  void *onFirst = r2qCudaDeviceConstant(&slot, host.data(), bytes, 0);
  ASSERT_EQ(r2qCudaSetDevice(1), 0);
  void *onSecond = r2qCudaDeviceConstant(&slot, host.data(), bytes, 0);
  EXPECT_NE(onSecond, onFirst);
  EXPECT_EQ(r2qCudaDeviceConstant(&slot, host.data(), bytes, 0), onSecond);
  EXPECT_EQ(fakeCudaAllocationDevice(onFirst), 0);
  EXPECT_EQ(fakeCudaAllocationDevice(onSecond), 1);
  for (void *copy : {onFirst, onSecond}) {
    std::vector<float> onDevice(host.size());
    ASSERT_TRUE(r2q::cuda::copyToHost(onDevice.data(), copy, bytes).ok());
    EXPECT_EQ(onDevice, host);
  }
  EXPECT_EQ(fakeCudaLiveAllocations(), liveBefore + 2);
  r2qCudaReleaseDeviceConstant(&slot); // From device 1's thread.
  EXPECT_EQ(fakeCudaLiveAllocations(), liveBefore);
  EXPECT_EQ(slot, nullptr);
}

// At exit the driver may shut down before lowered code's global destructor
// unloads its modules: releasing then is done, anything else still aborts.
TEST(CudaRuntimeOnFakeDriverDeathTest, ReleasesAfterDriverShutdown) {
  EXPECT_EXIT(
      {
        void *module = loadModule();
        void *stream = mgpuStreamCreate();
        void *buffer = mgpuMemAlloc(64, stream, false);
        fakeCudaShutDown();
        mgpuMemFree(buffer, stream);
        mgpuStreamDestroy(stream);
        mgpuModuleUnload(module);
        std::exit(0);
      },
      testing::ExitedWithCode(0), "");
  EXPECT_DEATH(
      {
        fakeCudaShutDown();
        mgpuStreamCreate();
      },
      "cuCtxGetCurrent: CUDA_ERROR_DEINITIALIZED");
}

} // namespace
