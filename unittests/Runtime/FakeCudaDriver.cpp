//===- FakeCudaDriver.cpp - A CUDA driver on the host, for tests ----------===//
//
// libr2q_fake_cuda.so stands in for libcuda.so.1 (R2Q_CUDA_DRIVER) so that
// the runtime's GPU paths run in `make test` on machines without a GPU.
// Every entry point is defined with cuda.h's prototype, so it gets the
// versioned symbol cuda.h maps it to, as the real driver has it. "Device"
// memory is host memory; a "module" is PTX text whose `.entry` names become
// functions; launching `r2q_vadd` runs the vector addition of
// r2q-gpu-smoke on the host over the whole grid, so wrong parameters or
// dimensions show up as wrong sums.
//
// The fake is strict where the runtime must be careful: every call that
// needs a context fails with CUDA_ERROR_INVALID_CONTEXT unless the primary
// context is current, dynamic shared memory above 48 KiB fails unless the
// function opted in, and a cluster launch needs a grid divisible by the
// cluster. `fakeCuda*` functions let the tests look inside and inject
// failures, and $R2Q_FAKE_CUDA_FAULT_AT names kernels whose lookup faults
// as a kernel that reads a wild address does on a GPU: the context is lost,
// and every later call that needs it fails with CUDA_ERROR_ILLEGAL_ADDRESS.
//
//===----------------------------------------------------------------------===//

#include "FakeCudaDriver.h"

#include <cuda.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

struct FakeFunction {
  std::string name;
  int maxDynamicSharedBytes = 48 * 1024;
  /// What cuFuncGetAttribute reports (r2q_vadd_shared: a static buffer).
  int registers() const { return 40; }
  int staticSharedBytes() const {
    return name == "r2q_vadd_shared" ? 8 * 1024 : 0;
  }
};

/// An H100/H200 SM's limits, for the fake occupancy.
constexpr int kSmThreads = 2048, kSmRegisters = 65536, kSmBlocks = 32;
constexpr int kSmSharedBytes = 228 * 1024, kBlockReservedShared = 1024;

struct FakeModule {
  std::map<std::string, FakeFunction> functions;
};

/// The modules loaded and not unloaded: after a lost context the runtime
/// forgets modules whose unload failed, and they stay here (as a lost
/// context's resources stay with it on a GPU), not leaked.
std::mutex modulesMutex;
std::set<FakeModule *> &liveModules = *new std::set<FakeModule *>;

/// Devices: $R2Q_FAKE_CUDA_DEVICES (1 to kMaxDevices), 1 by default.
constexpr int kMaxDevices = 8;
int deviceCount() {
  static const int count = [] {
    const char *value = std::getenv("R2Q_FAKE_CUDA_DEVICES");
    int parsed = value ? std::atoi(value) : 1;
    return std::clamp(parsed, 1, kMaxDevices);
  }();
  return count;
}

/// Each device's primary context: the address of its byte here.
char primaryContextObjects[kMaxDevices];
CUcontext primaryContext(int device) {
  return reinterpret_cast<CUcontext>(&primaryContextObjects[device]);
}
/// The device whose primary context `context` is, or -1.
int deviceOf(CUcontext context) {
  auto *object = reinterpret_cast<char *>(context);
  return object >= primaryContextObjects &&
                 object < primaryContextObjects + kMaxDevices
             ? static_cast<int>(object - primaryContextObjects)
             : -1;
}

/// The calling thread's stack of current contexts. Trivially destructible:
/// global destructors at exit (a module's unload) still push contexts after
/// the thread's own destructors have run.
class ContextStack {
public:
  bool empty() const { return depth == 0; }
  int size() const { return depth; }
  CUcontext back() const { return contexts[depth - 1]; }
  bool push(CUcontext context) {
    if (depth == kMostContexts)
      return false;
    contexts[depth++] = context;
    return true;
  }
  void pop() { --depth; }

private:
  static constexpr int kMostContexts = 64;
  CUcontext contexts[kMostContexts] = {};
  int depth = 0;
};
thread_local ContextStack contextStack;
bool shutDown = false;
int lastJitOptLevel = -1;
// Objects with destructors are never destroyed: the global destructors of
// lowered code (unloading modules, freeing constants) run after this
// library's at exit.
std::string &lastLaunchedKernel = *new std::string;
unsigned lastClusterX = 0;
/// The device of every live allocation (the context current when it was
/// made).
std::mutex allocationsMutex;
std::map<CUdeviceptr, int> &allocations = *new std::map<CUdeviceptr, int>;
std::atomic<uint64_t> bytesCopiedToDevice{0};
std::atomic<long> contextSynchronizations{0};
std::atomic<long> launches{0};
std::atomic<long> sharedMemoryOptIns{0};
/// cuMemAlloc fails for more bytes than this (0: no limit); at first
/// $R2Q_FAKE_CUDA_LARGEST_ALLOCATION.
std::atomic<uint64_t> largestAllocation{[] {
  const char *value = std::getenv("R2Q_FAKE_CUDA_LARGEST_ALLOCATION");
  return value ? std::strtoull(value, nullptr, 10) : 0;
}()};
/// cuStreamSynchronize calls per stream handle (guarded by allocationsMutex).
std::map<CUstream, long> &streamSynchronizations =
    *new std::map<CUstream, long>;
/// Memory pools and their release thresholds; the live allocations taken
/// from them (also in `allocations`).
std::map<CUmemoryPool, cuuint64_t> &pools =
    *new std::map<CUmemoryPool, cuuint64_t>;
std::map<CUdeviceptr, CUmemoryPool> &pooledAllocations =
    *new std::map<CUdeviceptr, CUmemoryPool>;
std::atomic<long> poolAllocations{0};
std::atomic<long> poolTrims{0};
std::atomic<bool> failUntilTrim{false};
std::atomic<long> streamOrderedFrees{0};
std::atomic<long> memFrees{0};
std::atomic<long> streamsCreated{0};
std::atomic<long> streamsDestroyed{0};
std::atomic<uintptr_t> lastLaunchStream{0};
std::atomic<uintptr_t> lastPoolStream{0};
/// The device of every live stream that cuStreamCreate made, and the
/// streams that capture a graph (guarded by allocationsMutex).
std::map<CUstream, int> &streamDevices = *new std::map<CUstream, int>;
std::vector<CUstream> &capturingStreams = *new std::vector<CUstream>;
/// CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS.
std::atomic<int> concurrentManagedAccess{1};
r2q::test::FakeTensorMapCall lastTensorMap;
void *lastRegistered = nullptr;
size_t lastRegisteredBytes = 0;

/// Whether `stream` is a live stream of cuStreamCreate's or a default
/// stream (with allocationsMutex held).
bool isStream(CUstream stream) {
  return stream == nullptr || stream == CU_STREAM_LEGACY ||
         stream == CU_STREAM_PER_THREAD || streamDevices.count(stream);
}

/// Kernels whose names contain $R2Q_FAKE_CUDA_FAULT_AT (when set) fault
/// when looked up, which loses the context for the rest of the process.
bool faultsAt(const char *kernel) {
  static const char *fault = std::getenv("R2Q_FAKE_CUDA_FAULT_AT");
  return fault && *fault && std::strstr(kernel, fault);
}
std::atomic<bool> contextLost{false};
std::atomic<bool> pushesFailWhenLost{false};

CUresult needContext() {
  if (shutDown)
    return CUDA_ERROR_DEINITIALIZED;
  if (contextLost)
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  return !contextStack.empty() && deviceOf(contextStack.back()) >= 0
             ? CUDA_SUCCESS
             : CUDA_ERROR_INVALID_CONTEXT;
}

/// The device of the current context (after needContext succeeded).
int currentDevice() { return deviceOf(contextStack.back()); }

void *host(CUdeviceptr ptr) { return reinterpret_cast<void *>(ptr); }

/// Streams and events: distinct pointers, nothing behind them.
template <typename Handle> CUresult createHandle(Handle *handle) {
  if (CUresult result = needContext())
    return result;
  *handle = reinterpret_cast<Handle>(new char);
  return CUDA_SUCCESS;
}

template <typename Handle> CUresult destroyHandle(Handle handle) {
  if (CUresult result = needContext())
    return result;
  delete reinterpret_cast<char *>(handle);
  return CUDA_SUCCESS;
}

/// cuMemsetD32/D16: `count` copies of `value`.
template <typename Word>
CUresult fill(CUdeviceptr dst, Word value, size_t count) {
  if (CUresult result = needContext())
    return result;
  std::fill_n(static_cast<Word *>(host(dst)), count, value);
  return CUDA_SUCCESS;
}

/// The `.entry` names of PTX text.
std::vector<std::string> entryNames(const char *ptx) {
  std::vector<std::string> names;
  for (const char *at = std::strstr(ptx, ".entry "); at;
       at = std::strstr(at + 1, ".entry ")) {
    const char *begin = at + 7, *end = begin;
    while (*end && *end != '(' && *end != ' ')
      ++end;
    names.emplace_back(begin, end);
  }
  return names;
}

void writeLog(unsigned numOptions, CUjit_option *options, void **values,
              const char *text) {
  char *buffer = nullptr;
  size_t size = 0;
  for (unsigned i = 0; i < numOptions; ++i) {
    if (options[i] == CU_JIT_ERROR_LOG_BUFFER)
      buffer = static_cast<char *>(values[i]);
    if (options[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
      size = reinterpret_cast<uintptr_t>(values[i]);
  }
  if (buffer && size)
    std::strncpy(buffer, text, size - 1);
}

/// Runs r2q_vadd(a, b, c, n) for every thread of the grid.
CUresult runKernel(const FakeFunction &function, const unsigned grid[3],
                   const unsigned block[3], unsigned sharedBytes,
                   void **params) {
  if (int(sharedBytes) > function.maxDynamicSharedBytes)
    return CUDA_ERROR_INVALID_VALUE;
  lastLaunchedKernel = function.name;
  ++launches;
  if (function.name == "r2q_faulty")
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  if (function.name != "r2q_vadd" && function.name != "r2q_vadd_shared")
    return CUDA_SUCCESS;
  auto *a = *static_cast<float **>(params[0]);
  auto *b = *static_cast<float **>(params[1]);
  auto *c = *static_cast<float **>(params[2]);
  uint32_t n = *static_cast<uint32_t *>(params[3]);
  uint64_t threads =
      uint64_t(grid[0]) * grid[1] * grid[2] * block[0] * block[1] * block[2];
  for (uint64_t i = 0; i < threads && i < n; ++i)
    c[i] = a[i] + b[i];
  return CUDA_SUCCESS;
}

} // namespace

extern "C" {

// The test hooks (FakeCudaDriver.h).
int fakeCudaContextDepth() { return contextStack.size(); }
void fakeCudaShutDown() { shutDown = true; }

void fakeCudaLoseContext(bool lost, bool pushesFail) {
  contextLost = lost;
  pushesFailWhenLost = pushesFail;
}
int fakeCudaLastJitOptLevel() { return lastJitOptLevel; }
const char *fakeCudaLastKernel() { return lastLaunchedKernel.c_str(); }
unsigned fakeCudaLastClusterX() { return lastClusterX; }
long fakeCudaLiveAllocations() {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  return static_cast<long>(allocations.size());
}
int fakeCudaAllocationDevice(const void *ptr) {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  auto found = allocations.find(reinterpret_cast<CUdeviceptr>(ptr));
  return found == allocations.end() ? -1 : found->second;
}
uint64_t fakeCudaBytesCopiedToDevice() { return bytesCopiedToDevice; }
long fakeCudaContextSynchronizations() { return contextSynchronizations; }
long fakeCudaLaunches() { return launches; }
long fakeCudaSharedMemoryOptIns() { return sharedMemoryOptIns; }
void fakeCudaFailAllocationsAbove(uint64_t bytes) { largestAllocation = bytes; }
long fakeCudaAllStreamSynchronizations() {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  long total = 0;
  for (const auto &entry : streamSynchronizations)
    total += entry.second;
  return total;
}
long fakeCudaPoolAllocations() { return poolAllocations; }
long fakeCudaPoolTrims() { return poolTrims; }
void fakeCudaFailAllocationsUntilTrim() { failUntilTrim = true; }
long fakeCudaStreamOrderedFrees() { return streamOrderedFrees; }
long fakeCudaMemFrees() { return memFrees; }
long fakeCudaStreamsCreated() { return streamsCreated; }
long fakeCudaStreamsDestroyed() { return streamsDestroyed; }
uintptr_t fakeCudaLastLaunchStream() { return lastLaunchStream; }
uintptr_t fakeCudaLastPoolStream() { return lastPoolStream; }
void fakeCudaSetCapturing(uintptr_t stream, int capturing) {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  auto handle = reinterpret_cast<CUstream>(stream);
  capturingStreams.erase(
      std::remove(capturingStreams.begin(), capturingStreams.end(), handle),
      capturingStreams.end());
  if (capturing)
    capturingStreams.push_back(handle);
}
void fakeCudaSetConcurrentManagedAccess(int value) {
  concurrentManagedAccess = value;
}
int fakeCudaPoolKeepsAll(const void *ptr) {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  // The pool's allocation that starts at most 255 bytes before `ptr` (the
  // runtime rounds its pools' allocations up to 256 bytes).
  auto address = reinterpret_cast<CUdeviceptr>(ptr);
  auto after = pooledAllocations.upper_bound(address);
  if (after == pooledAllocations.begin())
    return -1;
  auto found = std::prev(after);
  if (address - found->first >= 256)
    return -1;
  return pools[found->second] == UINT64_MAX;
}
long fakeCudaStreamSynchronizations(uintptr_t stream) {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  auto found = streamSynchronizations.find(reinterpret_cast<CUstream>(stream));
  return found == streamSynchronizations.end() ? 0 : found->second;
}
const r2q::test::FakeTensorMapCall *fakeCudaLastTensorMap() {
  return &lastTensorMap;
}
void *fakeCudaLastRegistered(size_t *bytes) {
  *bytes = lastRegisteredBytes;
  return lastRegistered;
}

CUresult CUDAAPI cuInit(unsigned int) { return CUDA_SUCCESS; }

CUresult CUDAAPI cuDriverGetVersion(int *version) {
  *version = 13000;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorName(CUresult error, const char **name) {
  switch (error) {
  case CUDA_ERROR_INVALID_VALUE:
    *name = "CUDA_ERROR_INVALID_VALUE";
    return CUDA_SUCCESS;
  case CUDA_ERROR_NOT_FOUND:
    *name = "CUDA_ERROR_NOT_FOUND";
    return CUDA_SUCCESS;
  case CUDA_ERROR_ILLEGAL_ADDRESS:
    *name = "CUDA_ERROR_ILLEGAL_ADDRESS";
    return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_PTX:
    *name = "CUDA_ERROR_INVALID_PTX";
    return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_CONTEXT:
    *name = "CUDA_ERROR_INVALID_CONTEXT";
    return CUDA_SUCCESS;
  case CUDA_ERROR_DEINITIALIZED:
    *name = "CUDA_ERROR_DEINITIALIZED";
    return CUDA_SUCCESS;
  case CUDA_ERROR_OUT_OF_MEMORY:
    *name = "CUDA_ERROR_OUT_OF_MEMORY";
    return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_HANDLE:
    *name = "CUDA_ERROR_INVALID_HANDLE";
    return CUDA_SUCCESS;
  default:
    *name = nullptr;
    return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult CUDAAPI cuGetErrorString(CUresult error, const char **text) {
  *text = error == CUDA_ERROR_NOT_FOUND ? "named symbol not found"
                                        : "fake description";
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int *count) {
  *count = deviceCount();
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice *device, int ordinal) {
  *device = ordinal;
  return ordinal >= 0 && ordinal < deviceCount() ? CUDA_SUCCESS
                                                 : CUDA_ERROR_INVALID_DEVICE;
}

CUresult CUDAAPI cuDeviceGetName(char *name, int length, CUdevice) {
  std::strncpy(name, "r2q fake GPU", length);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int *value, CUdevice_attribute attribute,
                                      CUdevice) {
  switch (attribute) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
    *value = 9;
    break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
    *value = 0;
    break;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
    *value = 132;
    break;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
    *value = 227 * 1024;
    break;
  case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED:
    *value = 1;
    break;
  case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS:
    *value = concurrentManagedAccess;
    break;
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem(size_t *bytes, CUdevice) {
  *bytes = size_t(141) << 30;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice device) {
  *context = primaryContext(device);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext *context) {
  if (shutDown)
    return CUDA_ERROR_DEINITIALIZED;
  *context = contextStack.empty() ? nullptr : contextStack.back();
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPushCurrent(CUcontext context) {
  if (contextLost && pushesFailWhenLost)
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  return contextStack.push(context) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuCtxPopCurrent(CUcontext *context) {
  if (contextStack.empty())
    return CUDA_ERROR_INVALID_CONTEXT;
  if (context)
    *context = contextStack.back();
  contextStack.pop();
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSynchronize() {
  ++contextSynchronizations;
  return needContext();
}

CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *module, const void *image,
                                    unsigned int numOptions,
                                    CUjit_option *options, void **values) {
  if (CUresult result = needContext())
    return result;
  for (unsigned i = 0; i < numOptions; ++i)
    if (options[i] == CU_JIT_OPTIMIZATION_LEVEL)
      lastJitOptLevel = int(reinterpret_cast<uintptr_t>(values[i]));
  auto *loaded = new FakeModule;
  *module = reinterpret_cast<CUmodule>(loaded);
  {
    std::lock_guard<std::mutex> lock(modulesMutex);
    liveModules.insert(loaded);
  }
  // A cubin or fatbin (not NUL-terminated) loads without kernels: looking
  // one up fails.
  static const unsigned char elf[] = {0x7f, 'E', 'L', 'F'},
                             fatbin[] = {0x50, 0xed, 0x55, 0xba};
  if (!std::memcmp(image, elf, 4) || !std::memcmp(image, fatbin, 4))
    return CUDA_SUCCESS;
  const char *ptx = static_cast<const char *>(image);
  if (std::strstr(ptx, "not.an.instruction")) {
    delete loaded;
    *module = nullptr;
    writeLog(numOptions, options, values,
             "fake ptxas: line 5: unknown instruction 'not.an.instruction'");
    return CUDA_ERROR_INVALID_PTX;
  }
  for (const std::string &name : entryNames(ptx))
    loaded->functions[name].name = name;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleUnload(CUmodule module) {
  if (CUresult result = needContext())
    return result;
  {
    std::lock_guard<std::mutex> lock(modulesMutex);
    liveModules.erase(reinterpret_cast<FakeModule *>(module));
  }
  delete reinterpret_cast<FakeModule *>(module);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction *function, CUmodule module,
                                     const char *name) {
  if (CUresult result = needContext())
    return result;
  if (faultsAt(name)) {
    contextLost = true;
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  }
  auto &functions = reinterpret_cast<FakeModule *>(module)->functions;
  auto found = functions.find(name);
  if (found == functions.end())
    return CUDA_ERROR_NOT_FOUND;
  *function = reinterpret_cast<CUfunction>(&found->second);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction function,
                                    CUfunction_attribute attribute, int value) {
  if (CUresult result = needContext())
    return result;
  if (attribute == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) {
    ++sharedMemoryOptIns;
    if (value > 227 * 1024)
      return CUDA_ERROR_INVALID_VALUE;
    reinterpret_cast<FakeFunction *>(function)->maxDynamicSharedBytes = value;
  }
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetAttribute(int *value, CUfunction_attribute attribute,
                                    CUfunction function) {
  if (CUresult result = needContext())
    return result;
  const auto &fake = *reinterpret_cast<FakeFunction *>(function);
  switch (attribute) {
  case CU_FUNC_ATTRIBUTE_NUM_REGS:
    *value = fake.registers();
    return CUDA_SUCCESS;
  case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES:
    *value = 0;
    return CUDA_SUCCESS;
  case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES:
    *value = fake.staticSharedBytes();
    return CUDA_SUCCESS;
  case CU_FUNC_ATTRIBUTE_BINARY_VERSION:
    *value = 90;
    return CUDA_SUCCESS;
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
}

/// The fewest blocks that one SM's threads, registers, shared memory or
/// block slots allow.
CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessor(
    int *blocks, CUfunction function, int blockThreads,
    size_t dynamicSharedBytes) {
  if (CUresult result = needContext())
    return result;
  const auto &fake = *reinterpret_cast<FakeFunction *>(function);
  if (blockThreads <= 0 || blockThreads > 1024)
    return CUDA_ERROR_INVALID_VALUE;
  int shared = fake.staticSharedBytes() + static_cast<int>(dynamicSharedBytes) +
               kBlockReservedShared;
  *blocks = std::min({kSmBlocks, kSmThreads / blockThreads,
                      kSmRegisters / (fake.registers() * blockThreads),
                      kSmSharedBytes / shared});
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchKernel(CUfunction function, unsigned gridX,
                                unsigned gridY, unsigned gridZ, unsigned blockX,
                                unsigned blockY, unsigned blockZ,
                                unsigned sharedBytes, CUstream stream,
                                void **params, void **) {
  if (CUresult result = needContext())
    return result;
  lastLaunchStream = reinterpret_cast<uintptr_t>(stream);
  unsigned grid[3] = {gridX, gridY, gridZ};
  unsigned block[3] = {blockX, blockY, blockZ};
  lastClusterX = 0;
  return runKernel(*reinterpret_cast<FakeFunction *>(function), grid, block,
                   sharedBytes, params);
}

CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config,
                                  CUfunction function, void **params, void **) {
  if (CUresult result = needContext())
    return result;
  lastLaunchStream = reinterpret_cast<uintptr_t>(config->hStream);
  if (config->numAttrs != 1 ||
      config->attrs[0].id != CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION ||
      config->gridDimX % config->attrs[0].value.clusterDim.x != 0)
    return CUDA_ERROR_INVALID_VALUE;
  unsigned grid[3] = {config->gridDimX, config->gridDimY, config->gridDimZ};
  unsigned block[3] = {config->blockDimX, config->blockDimY, config->blockDimZ};
  lastClusterX = config->attrs[0].value.clusterDim.x;
  return runKernel(*reinterpret_cast<FakeFunction *>(function), grid, block,
                   config->sharedMemBytes, params);
}

CUresult CUDAAPI cuStreamCreate(CUstream *stream, unsigned int) {
  ++streamsCreated;
  if (CUresult result = createHandle(stream))
    return result;
  std::lock_guard<std::mutex> lock(allocationsMutex);
  streamDevices[*stream] = currentDevice();
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamDestroy(CUstream stream) {
  ++streamsDestroyed;
  {
    std::lock_guard<std::mutex> lock(allocationsMutex);
    streamDevices.erase(stream);
  }
  return destroyHandle(stream);
}

/// The context of a stream cuStreamCreate made, or the current one for the
/// legacy and per-thread default streams; any other handle is invalid.
CUresult CUDAAPI cuStreamGetCtx(CUstream stream, CUcontext *context) {
  if (CUresult result = needContext())
    return result;
  if (stream == nullptr || stream == CU_STREAM_LEGACY ||
      stream == CU_STREAM_PER_THREAD) {
    *context = contextStack.back();
    return CUDA_SUCCESS;
  }
  std::lock_guard<std::mutex> lock(allocationsMutex);
  auto found = streamDevices.find(stream);
  if (found == streamDevices.end())
    return CUDA_ERROR_INVALID_HANDLE;
  *context = primaryContext(found->second);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamIsCapturing(CUstream stream,
                                     CUstreamCaptureStatus *status) {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  *status = std::count(capturingStreams.begin(), capturingStreams.end(), stream)
                ? CU_STREAM_CAPTURE_STATUS_ACTIVE
                : CU_STREAM_CAPTURE_STATUS_NONE;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamSynchronize(CUstream stream) {
  {
    std::lock_guard<std::mutex> lock(allocationsMutex);
    ++streamSynchronizations[stream];
  }
  return needContext();
}

CUresult CUDAAPI cuStreamWaitEvent(CUstream, CUevent, unsigned int) {
  return needContext();
}

CUresult CUDAAPI cuEventCreate(CUevent *event, unsigned int) {
  return createHandle(event);
}

CUresult CUDAAPI cuEventDestroy(CUevent event) { return destroyHandle(event); }

CUresult CUDAAPI cuEventRecord(CUevent, CUstream) { return needContext(); }

CUresult CUDAAPI cuEventSynchronize(CUevent) { return needContext(); }

CUresult CUDAAPI cuEventElapsedTime(float *milliseconds, CUevent, CUevent) {
  *milliseconds = 1.5f;
  return needContext();
}

CUresult CUDAAPI cuMemAlloc(CUdeviceptr *ptr, size_t bytes) {
  if (CUresult result = needContext())
    return result;
  if ((largestAllocation && bytes > largestAllocation) || failUntilTrim)
    return CUDA_ERROR_OUT_OF_MEMORY;
  *ptr = reinterpret_cast<CUdeviceptr>(std::malloc(bytes));
  std::lock_guard<std::mutex> lock(allocationsMutex);
  allocations[*ptr] = currentDevice();
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemPoolCreate(CUmemoryPool *pool,
                                 const CUmemPoolProps *properties) {
  if (CUresult result = needContext())
    return result;
  if (properties->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
      properties->location.id < 0 || properties->location.id >= deviceCount() ||
      properties->allocType != CU_MEM_ALLOCATION_TYPE_PINNED)
    return CUDA_ERROR_INVALID_VALUE;
  *pool = reinterpret_cast<CUmemoryPool>(new char);
  std::lock_guard<std::mutex> lock(allocationsMutex);
  pools[*pool] = 0; // The driver's default: memory goes back at each sync.
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemPoolDestroy(CUmemoryPool pool) {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  if (!pools.erase(pool))
    return CUDA_ERROR_INVALID_VALUE;
  delete reinterpret_cast<char *>(pool);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemPoolTrimTo(CUmemoryPool pool, size_t) {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  if (!pools.count(pool))
    return CUDA_ERROR_INVALID_VALUE;
  ++poolTrims;
  failUntilTrim = false;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemPoolSetAttribute(CUmemoryPool pool,
                                       CUmemPool_attribute attribute,
                                       void *value) {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  if (!pools.count(pool) || attribute != CU_MEMPOOL_ATTR_RELEASE_THRESHOLD)
    return CUDA_ERROR_INVALID_VALUE;
  pools[pool] = *static_cast<cuuint64_t *>(value);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAllocFromPoolAsync(CUdeviceptr *ptr, size_t bytes,
                                         CUmemoryPool pool, CUstream stream) {
  {
    std::lock_guard<std::mutex> lock(allocationsMutex);
    if (!pools.count(pool))
      return CUDA_ERROR_INVALID_VALUE;
    if (!isStream(stream))
      return CUDA_ERROR_INVALID_HANDLE;
  }
  lastPoolStream = reinterpret_cast<uintptr_t>(stream);
  if (CUresult result = cuMemAlloc(ptr, bytes))
    return result;
  ++poolAllocations;
  std::lock_guard<std::mutex> lock(allocationsMutex);
  pooledAllocations[*ptr] = pool;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAllocManaged(CUdeviceptr *ptr, size_t bytes,
                                   unsigned int) {
  return cuMemAlloc(ptr, bytes);
}

/// Frees an allocation of the fake (a pool's too, if `pooledOnly`, only
/// one), in the context that made it, as the driver expects.
static CUresult freeAllocation(CUdeviceptr ptr, bool pooledOnly) {
  if (CUresult result = needContext())
    return result;
  {
    std::lock_guard<std::mutex> lock(allocationsMutex);
    if (pooledOnly && !pooledAllocations.count(ptr))
      return CUDA_ERROR_INVALID_VALUE;
    auto found = allocations.find(ptr);
    if (found == allocations.end() || found->second != currentDevice())
      return CUDA_ERROR_INVALID_CONTEXT;
    allocations.erase(found);
    pooledAllocations.erase(ptr);
  }
  std::free(host(ptr));
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFree(CUdeviceptr ptr) {
  ++memFrees;
  return freeAllocation(ptr, /*pooledOnly=*/false);
}

CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr ptr, CUstream stream) {
  {
    std::lock_guard<std::mutex> lock(allocationsMutex);
    if (!isStream(stream))
      return CUDA_ERROR_INVALID_HANDLE;
  }
  lastPoolStream = reinterpret_cast<uintptr_t>(stream);
  ++streamOrderedFrees;
  return freeAllocation(ptr, /*pooledOnly=*/true);
}

/// The device of an allocation the fake made; any other pointer counts as
/// device 0's memory (the fake's device memory is host memory, so tests may
/// hand it plain host buffers as device ones).
CUresult CUDAAPI cuPointerGetAttribute(void *data,
                                       CUpointer_attribute attribute,
                                       CUdeviceptr ptr) {
  if (CUresult result = needContext())
    return result;
  if (attribute != CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)
    return CUDA_ERROR_NOT_SUPPORTED;
  std::lock_guard<std::mutex> lock(allocationsMutex);
  auto found = allocations.find(ptr);
  *static_cast<int *>(data) = found == allocations.end() ? 0 : found->second;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes,
                               CUstream) {
  if (CUresult result = needContext())
    return result;
  std::memcpy(host(dst), host(src), bytes);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t bytes) {
  bytesCopiedToDevice += bytes;
  return cuMemcpyAsync(dst, reinterpret_cast<CUdeviceptr>(src), bytes, nullptr);
}

CUresult CUDAAPI cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t bytes) {
  return cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst), src, bytes, nullptr);
}

CUresult CUDAAPI cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src,
                                   size_t bytes, CUstream stream) {
  return cuMemcpyAsync(dst, src, bytes, stream);
}

CUresult CUDAAPI cuMemsetD32Async(CUdeviceptr dst, unsigned int value,
                                  size_t count, CUstream) {
  return fill<uint32_t>(dst, value, count);
}

CUresult CUDAAPI cuMemsetD16Async(CUdeviceptr dst, unsigned short value,
                                  size_t count, CUstream) {
  return fill<uint16_t>(dst, value, count);
}

CUresult CUDAAPI cuMemHostRegister(void *ptr, size_t bytes, unsigned int) {
  if (CUresult result = needContext())
    return result;
  lastRegistered = ptr;
  lastRegisteredBytes = bytes;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostUnregister(void *ptr) {
  if (CUresult result = needContext())
    return result;
  if (ptr != lastRegistered)
    return CUDA_ERROR_INVALID_VALUE;
  lastRegistered = nullptr;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuTensorMapEncodeTiled(
    CUtensorMap *map, CUtensorMapDataType dataType, cuuint32_t rank,
    void *address, const cuuint64_t *dims, const cuuint64_t *strides,
    const cuuint32_t *box, const cuuint32_t *, CUtensorMapInterleave,
    CUtensorMapSwizzle swizzle, CUtensorMapL2promotion,
    CUtensorMapFloatOOBfill) {
  lastTensorMap.dataType = dataType;
  lastTensorMap.rank = rank;
  lastTensorMap.address = address;
  for (cuuint32_t r = 0; r < rank; ++r) {
    lastTensorMap.dims[r] = dims[r];
    lastTensorMap.box[r] = box[r];
    if (r + 1 < rank)
      lastTensorMap.strides[r] = strides[r];
  }
  lastTensorMap.swizzle = swizzle;
  std::memset(map, 0x5a, sizeof(*map));
  return CUDA_SUCCESS;
}

} // extern "C"
