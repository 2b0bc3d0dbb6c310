//===- CudaRuntime.cpp - r2q's CUDA driver-API runtime --------------------===//
//
// See include/r2q/Runtime/CudaRuntime.h and docs/gpu.md. The driver is
// loaded with dlopen on first use; cuda.h supplies its types and tells which
// versioned symbol (cuMemAlloc_v2, ...) each entry point is, nothing else:
// this file never calls a cu* function directly, so the library has no link
// dependency on libcuda (the build links it with --no-undefined).
//
//===----------------------------------------------------------------------===//

#include "r2q/Runtime/CudaRuntime.h"

#include <cuda.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

//===----------------------------------------------------------------------===//
// The driver's entry points
//===----------------------------------------------------------------------===//

// Every driver function the library uses, as cuda.h names it: cuda.h maps
// some names to versioned symbols (cuMemAlloc -> cuMemAlloc_v2), and the
// expansion below resolves exactly the symbol cuda.h would have linked.
// REQUIRED ones must exist for the driver to be usable; OPTIONAL ones are
// newer (CUDA 12.x) and only the calls that need them fail without them.
#define R2Q_DRIVER_ENTRY_POINTS(REQUIRED, OPTIONAL)                            \
  REQUIRED(cuInit)                                                             \
  REQUIRED(cuDriverGetVersion)                                                 \
  REQUIRED(cuGetErrorName)                                                     \
  REQUIRED(cuGetErrorString)                                                   \
  REQUIRED(cuDeviceGetCount)                                                   \
  REQUIRED(cuDeviceGet)                                                        \
  REQUIRED(cuDeviceGetName)                                                    \
  REQUIRED(cuDeviceGetAttribute)                                               \
  REQUIRED(cuDeviceTotalMem)                                                   \
  REQUIRED(cuDevicePrimaryCtxRetain)                                           \
  REQUIRED(cuCtxGetCurrent)                                                    \
  REQUIRED(cuCtxPushCurrent)                                                   \
  REQUIRED(cuCtxPopCurrent)                                                    \
  REQUIRED(cuCtxSynchronize)                                                   \
  REQUIRED(cuModuleLoadDataEx)                                                 \
  REQUIRED(cuModuleUnload)                                                     \
  REQUIRED(cuModuleGetFunction)                                                \
  REQUIRED(cuFuncSetAttribute)                                                 \
  REQUIRED(cuLaunchKernel)                                                     \
  REQUIRED(cuStreamCreate)                                                     \
  REQUIRED(cuStreamDestroy)                                                    \
  REQUIRED(cuStreamSynchronize)                                                \
  REQUIRED(cuStreamWaitEvent)                                                  \
  REQUIRED(cuEventCreate)                                                      \
  REQUIRED(cuEventDestroy)                                                     \
  REQUIRED(cuEventRecord)                                                      \
  REQUIRED(cuEventSynchronize)                                                 \
  REQUIRED(cuMemAlloc)                                                         \
  REQUIRED(cuMemAllocManaged)                                                  \
  REQUIRED(cuMemFree)                                                          \
  REQUIRED(cuMemcpyAsync)                                                      \
  REQUIRED(cuMemcpyHtoD)                                                       \
  REQUIRED(cuMemcpyDtoH)                                                       \
  REQUIRED(cuMemcpyDtoDAsync)                                                  \
  REQUIRED(cuMemsetD32Async)                                                   \
  REQUIRED(cuMemsetD16Async)                                                   \
  REQUIRED(cuMemHostRegister)                                                  \
  REQUIRED(cuMemHostUnregister)                                                \
  REQUIRED(cuPointerGetAttribute)                                              \
  OPTIONAL(cuEventElapsedTime)                                                 \
  OPTIONAL(cuLaunchKernelEx)                                                   \
  OPTIONAL(cuTensorMapEncodeTiled)                                             \
  OPTIONAL(cuMemPoolCreate)                                                    \
  OPTIONAL(cuMemPoolDestroy)                                                   \
  OPTIONAL(cuMemPoolSetAttribute)                                              \
  OPTIONAL(cuMemPoolTrimTo)                                                    \
  OPTIONAL(cuMemAllocFromPoolAsync)                                            \
  OPTIONAL(cuMemFreeAsync)                                                     \
  OPTIONAL(cuStreamGetCtx)                                                     \
  OPTIONAL(cuStreamIsCapturing)                                                \
  OPTIONAL(cuFuncGetAttribute)                                                 \
  OPTIONAL(cuOccupancyMaxActiveBlocksPerMultiprocessor)

#define R2Q_SYMBOL_NAME(name) #name
// Expands cuda.h's macro first: R2Q_VERSIONED_NAME(cuMemAlloc) is
// "cuMemAlloc_v2".
#define R2Q_VERSIONED_NAME(name) R2Q_SYMBOL_NAME(name)

struct Driver {
  void *handle = nullptr;
  std::string path;
  /// Empty when the driver is loaded, initialized and has a device.
  std::string unavailable;
  int deviceCount = 0;
  int version = 0;
#define R2Q_DECLARE_ENTRY_POINT(name) decltype(&::name) name = nullptr;
  R2Q_DRIVER_ENTRY_POINTS(R2Q_DECLARE_ENTRY_POINT, R2Q_DECLARE_ENTRY_POINT)
#undef R2Q_DECLARE_ENTRY_POINT
};

constexpr const char *kNoGpu = "r2q: no NVIDIA GPU: ";

std::string driverPathFromEnvironment() {
  const char *path = std::getenv("R2Q_CUDA_DRIVER");
  return path && *path ? path : "libcuda.so.1";
}

/// "CUDA_ERROR_X (its description)"; the stub library and unknown codes have
/// no names, so the number stands in.
std::string describe(const Driver &driver, CUresult result) {
  const char *name = nullptr;
  const char *text = nullptr;
  if (driver.cuGetErrorName)
    driver.cuGetErrorName(result, &name);
  if (driver.cuGetErrorString)
    driver.cuGetErrorString(result, &text);
  std::string out =
      name ? std::string(name) : "CUresult " + std::to_string(result);
  if (text)
    out += std::string(" (") + text + ")";
  return out;
}

/// Resolves every entry point; returns the first required one missing.
const char *resolveEntryPoints(Driver &driver) {
  const char *missing = nullptr;
#define R2Q_RESOLVE(name, required)                                            \
  driver.name = reinterpret_cast<decltype(driver.name)>(                       \
      dlsym(driver.handle, R2Q_VERSIONED_NAME(name)));                         \
  if (required && !driver.name && !missing)                                    \
    missing = R2Q_VERSIONED_NAME(name);
#define R2Q_RESOLVE_REQUIRED(name) R2Q_RESOLVE(name, true)
#define R2Q_RESOLVE_OPTIONAL(name) R2Q_RESOLVE(name, false)
  R2Q_DRIVER_ENTRY_POINTS(R2Q_RESOLVE_REQUIRED, R2Q_RESOLVE_OPTIONAL)
#undef R2Q_RESOLVE_OPTIONAL
#undef R2Q_RESOLVE_REQUIRED
#undef R2Q_RESOLVE
  return missing;
}

/// Opens the driver, resolves its entry points, runs cuInit and counts the
/// devices; any failure leaves `unavailable` set and explains it.
void loadDriver(Driver &driver) {
  driver.path = driverPathFromEnvironment();
  driver.handle = dlopen(driver.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!driver.handle) {
    const char *why = dlerror();
    driver.unavailable = std::string(kNoGpu) + driver.path + " not found (" +
                         (why ? why : "dlopen failed") +
                         "); R2Q_CUDA_DRIVER may name the driver's path";
    return;
  }
  if (const char *missing = resolveEntryPoints(driver)) {
    driver.unavailable = std::string(kNoGpu) + "the CUDA driver " +
                         driver.path + " lacks " + missing +
                         " (a driver older than CUDA 12?)";
    return;
  }
  CUresult result = driver.cuInit(0);
  if (result == CUDA_ERROR_STUB_LIBRARY) {
    driver.unavailable = std::string(kNoGpu) + driver.path +
                         " is the CUDA toolkit's stub library, not a driver";
    return;
  }
  if (result != CUDA_SUCCESS) {
    driver.unavailable =
        std::string(kNoGpu) + "cuInit failed: " + describe(driver, result);
    return;
  }
  driver.cuDriverGetVersion(&driver.version);
  result = driver.cuDeviceGetCount(&driver.deviceCount);
  if (result != CUDA_SUCCESS)
    driver.unavailable = std::string(kNoGpu) +
                         "cuDeviceGetCount failed: " + describe(driver, result);
  else if (driver.deviceCount == 0)
    driver.unavailable = std::string(kNoGpu) + "the driver reports no device";
}

/// The process's driver, loaded on first use. Never destroyed: lowered code
/// unloads its modules from global destructors, after static objects die.
Driver &driver() {
  static Driver *instance = [] {
    auto *loaded = new Driver;
    loadDriver(*loaded);
    return loaded;
  }();
  return *instance;
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

thread_local bool lastErrorDestroyed = false;

struct LastError {
  std::string message;
  ~LastError() { lastErrorDestroyed = true; }
};

thread_local LastError lastErrorOfThread;

/// The calling thread's last error message. The main thread's thread_local
/// objects die at exit before the global destructors run, in which lowered
/// code unloads its modules (and may fail); from then on the message is
/// kept in one string that is never destroyed (and shared: only the thread
/// that runs the destructors is left).
std::string &lastError() {
  if (!lastErrorDestroyed)
    return lastErrorOfThread.message;
  static auto *afterThreadExit = new std::string;
  return *afterThreadExit;
}

int fail(std::string message) {
  lastError() = std::move(message);
  return -1;
}

/// Whether `result` is a kernel's fault, after which the context is
/// unusable: the driver returns the same error from every later call.
bool corruptsContext(CUresult result) {
  switch (result) {
  case CUDA_ERROR_ILLEGAL_ADDRESS:
  case CUDA_ERROR_MISALIGNED_ADDRESS:
  case CUDA_ERROR_INVALID_ADDRESS_SPACE:
  case CUDA_ERROR_INVALID_PC:
  case CUDA_ERROR_ILLEGAL_INSTRUCTION:
  case CUDA_ERROR_HARDWARE_STACK_ERROR:
  case CUDA_ERROR_LAUNCH_FAILED:
  case CUDA_ERROR_LAUNCH_TIMEOUT:
  case CUDA_ERROR_ASSERT:
  case CUDA_ERROR_ECC_UNCORRECTABLE:
    return true;
  default:
    return false;
  }
}

/// 0 for success; otherwise records "r2q: CUDA error: <call>[ for kernel
/// '<kernel>']: <error name> (<error string>)" and returns -1.
int check(CUresult result, const char *call, const char *kernel = nullptr) {
  if (result == CUDA_SUCCESS)
    return 0;
  std::string message = std::string("r2q: CUDA error: ") + call;
  if (kernel)
    message += std::string(" for kernel '") + kernel + "'";
  message += ": " + describe(driver(), result);
  if (corruptsContext(result))
    message += "; a kernel faulted, so the GPU's context is unusable and "
               "every later CUDA call of this process fails";
  return fail(message);
}

/// As check(), for a wait that may come at exit (before a release): once
/// the driver has shut down, nothing runs that could be waited for. A
/// kernel's fault is the wait's error.
int checkFinalWait(CUresult result, const char *call) {
  return check(result == CUDA_ERROR_DEINITIALIZED ? CUDA_SUCCESS : result,
               call);
}

/// As checkFinalWait(), for calls that free, destroy or unload a resource:
/// once a kernel's fault has lost the context too, there is nothing left to
/// release (the resources went with the context). The fault itself is
/// reported by the call that saw it, and by every later call that is not a
/// release (the waits before releases included): lowered code waits for its
/// results before it frees, and a process that lost its context exits with
/// its own status, not an abort in a module's destructor.
int checkRelease(CUresult result, const char *call) {
  return corruptsContext(result) ? 0 : checkFinalWait(result, call);
}

// Calls a driver entry point by its cuda.h name and checks the result.
#define R2Q_CALL(name, ...) check(driver().name(__VA_ARGS__), #name)
#define R2Q_RELEASE(name, ...) checkRelease(driver().name(__VA_ARGS__), #name)
#define R2Q_FINAL_WAIT(name, ...)                                              \
  checkFinalWait(driver().name(__VA_ARGS__), #name)

/// The error scope of this thread (r2qCudaBeginErrorScope): while one is
/// open, the mgpu* entry points keep their first failure here instead of
/// aborting, and skip their GPU work after it.
struct ErrorScope {
  int depth = 0;
  bool failed = false;
  std::string firstError;
};

thread_local ErrorScope errorScope;

/// Whether an entry point of lowered code skips its GPU work: an earlier
/// call in this thread's error scope failed, so the results are lost
/// anyway, and the handles it returned are null.
bool skipAfterFailure() { return errorScope.depth > 0 && errorScope.failed; }

/// mgpu* entry points cannot return errors to lowered code. Inside an error
/// scope the first failure is kept for r2qCudaEndErrorScope; outside one the
/// message goes to stderr and the process aborts.
void reportFailure(int result, const char *entryPoint) {
  if (result == 0)
    return;
  if (errorScope.depth > 0) {
    if (!errorScope.failed)
      errorScope.firstError = lastError();
    errorScope.failed = true;
    return;
  }
  std::fprintf(stderr,
               "%s\nr2q: %s cannot return an error to the lowered code; "
               "aborting\n",
               lastError().c_str(), entryPoint);
  std::fflush(stderr);
  std::abort();
}

/// Runs `work`, an entry point's GPU work (a status), unless an earlier
/// call of the thread's error scope failed, and reports its failure.
template <typename Work> void gpuWork(const char *entryPoint, Work work) {
  if (!skipAfterFailure())
    reportFailure(work(), entryPoint);
}

/// Runs `wait`, an entry point's wait for `handle` (a stream or an event;
/// null is the legacy default stream), even after a failure: host code that
/// goes on may touch managed memory that kernels launched before the
/// failure still use. A null handle after a failure is one a skipped call
/// returned: there is nothing to wait for.
template <typename Wait>
void waitWork(const void *handle, const char *entryPoint, Wait wait) {
  if (handle || !skipAfterFailure())
    reportFailure(wait(), entryPoint);
}

/// Runs `release`, an entry point's freeing of `handle`, even after a
/// failure (the resources a failed call made are still freed); a null
/// handle, which only a failed or skipped call returns, frees nothing.
template <typename Release>
void releaseWork(const void *handle, const char *entryPoint, Release release) {
  if (handle)
    reportFailure(release(), entryPoint);
}

//===----------------------------------------------------------------------===//
// Devices and contexts
//===----------------------------------------------------------------------===//

thread_local int defaultDevice = 0;

struct Contexts {
  std::mutex mutex;
  std::vector<CUcontext> primary;
};

Contexts &contexts() {
  static auto *instance = new Contexts;
  return *instance;
}

/// Runs `call` with `device` as the thread's default device (so in its
/// context: what a device's context made is freed in it), then restores it.
template <typename Call> int onDevice(int device, Call call) {
  const int callerDevice = defaultDevice;
  defaultDevice = device;
  int status = call();
  defaultDevice = callerDevice;
  return status;
}

/// 0 when the driver can be used; else records why not.
int requireGpu() {
  const Driver &loaded = driver();
  return loaded.unavailable.empty() ? 0 : fail(loaded.unavailable);
}

int requireDevice(int ordinal) {
  if (requireGpu())
    return -1;
  int count = driver().deviceCount;
  if (ordinal < 0 || ordinal >= count)
    return fail("r2q: CUDA device " + std::to_string(ordinal) +
                " does not exist (the driver reports " + std::to_string(count) +
                ")");
  return 0;
}

/// The primary context of the thread's default device, retained once (and
/// remembered per thread, so most calls take no lock).
int primaryContext(CUcontext *context) {
  thread_local int cachedDevice = -1;
  thread_local CUcontext cached = nullptr;
  if (cachedDevice == defaultDevice) {
    *context = cached;
    return 0;
  }
  if (requireDevice(defaultDevice))
    return -1;
  Contexts &all = contexts();
  std::lock_guard<std::mutex> lock(all.mutex);
  all.primary.resize(driver().deviceCount, nullptr);
  CUcontext &slot = all.primary[defaultDevice];
  if (!slot) {
    CUdevice device;
    if (R2Q_CALL(cuDeviceGet, &device, defaultDevice) ||
        R2Q_CALL(cuDevicePrimaryCtxRetain, &slot, device))
      return -1;
  }
  *context = cached = slot;
  cachedDevice = defaultDevice;
  return 0;
}

/// Makes the default device's primary context current for its lifetime
/// (pushing it only when another one is current); `failed()` tells whether
/// that worked, with the reason recorded.
class ContextScope {
public:
  ContextScope() {
    CUcontext context = nullptr, current = nullptr;
    if (primaryContext(&context)) {
      status = -1;
      return;
    }
    CUresult result = driver().cuCtxGetCurrent(&current);
    shutDown = result == CUDA_ERROR_DEINITIALIZED;
    lost = corruptsContext(result);
    if (check(result, "cuCtxGetCurrent")) {
      status = -1;
      return;
    }
    if (current == context)
      return;
    result = driver().cuCtxPushCurrent(context);
    lost = corruptsContext(result);
    status = check(result, "cuCtxPushCurrent");
    pushed = status == 0;
  }
  ~ContextScope() {
    if (pushed)
      driver().cuCtxPopCurrent(nullptr);
  }
  ContextScope(const ContextScope &) = delete;
  ContextScope &operator=(const ContextScope &) = delete;
  bool failed() const { return status != 0; }
  /// The driver has shut down (global destructors at exit).
  bool driverShutDown() const { return shutDown; }
  /// Making the context current failed because a kernel's fault lost it.
  bool contextLost() const { return lost; }

private:
  int status = 0;
  bool pushed = false;
  bool shutDown = false;
  bool lost = false;
};

/// Runs `call` (a checked driver call) under the default context.
template <typename Call> int inContext(Call call) {
  ContextScope scope;
  return scope.failed() ? -1 : call();
}

/// As inContext, for a wait before a release (R2Q_FINAL_WAIT): once the
/// driver has shut down, there is nothing to wait for; and with
/// `lostIsDone`, for a release (R2Q_RELEASE), once a kernel's fault has
/// lost the context either, there is nothing left to release.
template <typename Call>
int finalWaitInContext(Call call, bool lostIsDone = false) {
  ContextScope scope;
  if (scope.driverShutDown() || (lostIsDone && scope.contextLost()))
    return 0;
  return scope.failed() ? -1 : call();
}

template <typename Call> int releaseInContext(Call call) {
  return finalWaitInContext(call, /*lostIsDone=*/true);
}

CUdeviceptr devicePointer(const void *ptr) {
  return reinterpret_cast<CUdeviceptr>(ptr);
}

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

/// The dynamic shared memory a kernel may take without an opt-in.
constexpr int32_t kDefaultDynamicSharedBytes = 48 * 1024;

/// What the runtime knows of a kernel handle that lowered code looked up:
/// its name (for messages), its module, and how much dynamic shared memory
/// the driver has been told it may take (above the default 48 KiB, an
/// opt-in that needs a driver call, made once per handle).
struct KernelRecord {
  std::string name;
  CUmodule module = nullptr;
  int32_t sharedBytesAllowed = kDefaultDynamicSharedBytes;
};

struct KernelNames {
  std::mutex mutex;
  std::unordered_map<CUfunction, KernelRecord> byFunction;
};

KernelNames &kernelNames() {
  static auto *instance = new KernelNames;
  return *instance;
}

std::string kernelName(CUfunction function) {
  KernelNames &names = kernelNames();
  std::lock_guard<std::mutex> lock(names.mutex);
  auto found = names.byFunction.find(function);
  return found == names.byFunction.end() ? "<unknown kernel>"
                                         : found->second.name;
}

/// Forgets the kernels of `module`, which is unloaded: a handle of a module
/// loaded later at the same address starts without an opt-in.
void forgetKernels(CUmodule module) {
  KernelNames &names = kernelNames();
  std::lock_guard<std::mutex> lock(names.mutex);
  std::erase_if(names.byFunction, [&](const auto &entry) {
    return entry.second.module == module;
  });
}

bool isCubinOrFatbin(const void *data, size_t bytes) {
  static const unsigned char elfMagic[] = {0x7f, 'E', 'L', 'F'};
  static const unsigned char fatbinMagic[] = {0x50, 0xed, 0x55, 0xba};
  return bytes >= 4 && (std::memcmp(data, elfMagic, 4) == 0 ||
                        std::memcmp(data, fatbinMagic, 4) == 0);
}

/// The message of the last module load that failed: lowered code that
/// loads its kernels in a constructor, inside an error scope, keeps a null
/// module after a failure and looks its kernels up in it at every call.
struct FailedLoad {
  std::mutex mutex;
  std::string message;
};

FailedLoad &failedLoad() {
  static auto *instance = new FailedLoad;
  return *instance;
}

/// Remembers lastError() as the last failed load's message; returns -1.
int rememberFailedLoad() {
  FailedLoad &load = failedLoad();
  std::lock_guard<std::mutex> lock(load.mutex);
  load.message = lastError();
  return -1;
}

/// Loads a cubin/fatbin as it is, or PTX through the JIT (made
/// NUL-terminated when `bytes` does not count a terminator); the JIT's error
/// log joins the message on failure.
int loadModule(CUmodule *module, const void *data, size_t bytes, int optLevel) {
  ContextScope scope;
  if (scope.failed())
    return rememberFailedLoad();
  bool binary = isCubinOrFatbin(data, bytes);
  std::string text;
  if (!binary && (bytes == 0 || static_cast<const char *>(data)[bytes - 1])) {
    text.assign(static_cast<const char *>(data), bytes);
    data = text.c_str();
  }
  char log[8192] = {0};
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                            CU_JIT_OPTIMIZATION_LEVEL};
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log)),
                    reinterpret_cast<void *>(
                        static_cast<intptr_t>(optLevel < 0   ? 0
                                              : optLevel > 4 ? 4
                                                             : optLevel))};
  unsigned numOptions = binary ? 2 : 3;
  const char *call = binary ? "cuModuleLoadDataEx (cubin/fatbin)"
                            : "cuModuleLoadDataEx (PTX JIT)";
  if (check(driver().cuModuleLoadDataEx(module, data, numOptions, options,
                                        values),
            call) == 0) {
    // Records of an unloaded module at the same address, should one remain
    // (a context reset elsewhere), do not hold for this one.
    forgetKernels(*module);
    return 0;
  }
  if (log[0])
    lastError() += std::string("\nr2q: JIT error log:\n") + log;
  return rememberFailedLoad();
}

int getFunction(CUfunction *function, CUmodule module, const char *name) {
  if (!module) {
    FailedLoad &load = failedLoad();
    std::lock_guard<std::mutex> lock(load.mutex);
    return fail(std::string("r2q: cannot look up kernel '") + name +
                "': its module was not loaded (the last failed load: " +
                load.message + ")");
  }
  ContextScope scope;
  if (scope.failed() ||
      check(driver().cuModuleGetFunction(function, module, name),
            "cuModuleGetFunction", name))
    return -1;
  KernelNames &names = kernelNames();
  std::lock_guard<std::mutex> lock(names.mutex);
  KernelRecord &record = names.byFunction[*function];
  if (record.module != module || record.name != name)
    record = {name, module, kDefaultDynamicSharedBytes};
  return 0;
}

/// Dimensions must be positive and fit the driver's unsigned int.
int checkDimensions(const char *what, const int64_t dims[3],
                    const std::string &kernel) {
  for (int i = 0; i < 3; ++i)
    if (dims[i] < 1 || dims[i] > UINT_MAX)
      return fail("r2q: cannot launch kernel '" + kernel + "': " + what + " (" +
                  std::to_string(dims[0]) + ", " + std::to_string(dims[1]) +
                  ", " + std::to_string(dims[2]) +
                  ") has a dimension outside [1, 2^32-1]");
  return 0;
}

/// Whether lowered code launches a grid with no blocks: a parallel loop of
/// no iterations (a dynamic size of zero, such as an empty batch), which
/// does nothing. CUDA refuses such a launch; a negative size is still an
/// error.
bool emptyGrid(intptr_t x, intptr_t y, intptr_t z) {
  return x >= 0 && y >= 0 && z >= 0 && (x == 0 || y == 0 || z == 0);
}

/// Dynamic shared memory above the default 48 KiB needs an opt-in per
/// function, made once for the most it was asked for (a launch of a
/// byte_lut_gemv layer would otherwise make a driver call more).
int allowSharedMemory(CUfunction function, int32_t bytes,
                      const std::string &kernel) {
  if (bytes < 0)
    return fail("r2q: cannot launch kernel '" + kernel +
                "': negative dynamic shared memory size " +
                std::to_string(bytes));
  if (bytes <= kDefaultDynamicSharedBytes)
    return 0;
  // Under the lock, so that launches asking for different sizes at once
  // leave the driver at the largest, and the record with it.
  KernelNames &names = kernelNames();
  std::lock_guard<std::mutex> lock(names.mutex);
  auto found = names.byFunction.find(function);
  bool known = found != names.byFunction.end();
  if (known && found->second.sharedBytesAllowed >= bytes)
    return 0;
  if (check(
          driver().cuFuncSetAttribute(
              function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
          ("cuFuncSetAttribute (max dynamic shared memory " +
           std::to_string(bytes) + " bytes)")
              .c_str(),
          kernel.c_str()))
    return -1;
  if (known)
    found->second.sharedBytesAllowed = bytes;
  return 0;
}

/// One launch; `cluster` is null for launches without thread-block clusters.
int launch(CUfunction function, const int64_t grid[3], const int64_t block[3],
           const int64_t *cluster, int32_t sharedMemoryBytes, CUstream stream,
           void **params, void **extra) {
  ContextScope scope;
  if (scope.failed())
    return -1;
  std::string kernel = kernelName(function);
  if (checkDimensions("grid", grid, kernel) ||
      checkDimensions("block", block, kernel) ||
      (cluster && checkDimensions("cluster", cluster, kernel)) ||
      allowSharedMemory(function, sharedMemoryBytes, kernel))
    return -1;
  if (!cluster)
    return check(driver().cuLaunchKernel(
                     function, grid[0], grid[1], grid[2], block[0], block[1],
                     block[2], sharedMemoryBytes, stream, params, extra),
                 "cuLaunchKernel", kernel.c_str());
  if (!driver().cuLaunchKernelEx)
    return fail("r2q: cannot launch kernel '" + kernel +
                "' with clusters: the driver lacks cuLaunchKernelEx");
  if (cluster[0] * cluster[1] * cluster[2] > 8 &&
      check(
          driver().cuFuncSetAttribute(
              function, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1),
          "cuFuncSetAttribute (non-portable cluster size)", kernel.c_str()))
    return -1;
  CUlaunchAttribute attribute = {};
  attribute.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  attribute.value.clusterDim.x = cluster[0];
  attribute.value.clusterDim.y = cluster[1];
  attribute.value.clusterDim.z = cluster[2];
  CUlaunchConfig config = {};
  config.gridDimX = grid[0];
  config.gridDimY = grid[1];
  config.gridDimZ = grid[2];
  config.blockDimX = block[0];
  config.blockDimY = block[1];
  config.blockDimZ = block[2];
  config.sharedMemBytes = sharedMemoryBytes;
  config.hStream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  return check(driver().cuLaunchKernelEx(&config, function, params, extra),
               "cuLaunchKernelEx", kernel.c_str());
}

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

/// Host memory that mgpuMemAlloc hands out in place of device memory after
/// a failure in an error scope: lowered code may still write to its
/// managed buffers on the host before it returns, so they must be real
/// memory. release() frees them.
struct Placeholders {
  std::mutex mutex;
  std::set<void *> blocks;
};

Placeholders &placeholders() {
  static auto *instance = new Placeholders;
  return *instance;
}

/// `bytes` of zeroed host memory, or null where the host has none either.
void *placeholder(uint64_t bytes) {
  void *block = bytes ? std::calloc(bytes, 1) : nullptr;
  if (block) {
    Placeholders &all = placeholders();
    std::lock_guard<std::mutex> lock(all.mutex);
    all.blocks.insert(block);
  }
  return block;
}

/// Frees `ptr` if it is a placeholder; false otherwise.
bool releasePlaceholder(void *ptr) {
  Placeholders &all = placeholders();
  std::lock_guard<std::mutex> lock(all.mutex);
  if (!all.blocks.erase(ptr))
    return false;
  std::free(ptr);
  return true;
}

/// The stream-ordered memory of lowered code: one pool per device, made on
/// first use, from which mgpuMemAlloc takes device (not managed) buffers,
/// the results and temporaries of a call, on the call's stream
/// (cuMemAllocFromPoolAsync), and to which mgpuMemFree returns them on that
/// stream (cuMemFreeAsync): neither waits for the device, where cuMemAlloc
/// maps fresh memory and cuMemFree may wait for the whole device. The
/// pool keeps what is returned to it (its release threshold is all
/// memory), so later calls reuse it; an allocation that runs out of memory
/// trims the pools and tries again. A device without pools, a driver
/// without the entry points, a pool the driver will not make, or
/// R2Q_CUDA_MEMORY_POOL=0 in the environment makes mgpuMemAlloc use
/// cuMemAlloc instead, as does a call without a stream.
struct PoolBlock {
  CUdeviceptr taken; // what the pool gave, before rounding up
  int device;
};

struct MemoryPools {
  std::mutex mutex;
  /// Per device: whether its pool was looked for, and the pool (null where
  /// there is none).
  std::vector<bool> looked;
  std::vector<CUmemoryPool> pools;
  /// The live buffers taken from a pool, by the address handed out.
  std::map<void *, PoolBlock> blocks;
};

MemoryPools &memoryPools() {
  static auto *instance = new MemoryPools;
  return *instance;
}

/// cuMemAlloc's alignment, which the kernels' wide loads rely on
/// (r2q-gpu-check-alignment); CUDA promises none for a pool's memory, so
/// its buffers are taken this much larger and rounded up.
constexpr uint64_t kPoolAlignment = 256;

bool poolsDisabled() {
  static const bool disabled = [] {
    const char *value = std::getenv("R2Q_CUDA_MEMORY_POOL");
    return value && std::strcmp(value, "0") == 0;
  }();
  return disabled;
}

bool driverHasPools(const Driver &loaded) {
  return loaded.cuMemPoolCreate && loaded.cuMemPoolDestroy &&
         loaded.cuMemPoolSetAttribute && loaded.cuMemPoolTrimTo &&
         loaded.cuMemAllocFromPoolAsync && loaded.cuMemFreeAsync;
}

/// A pool for device `ordinal` that keeps the memory returned to it, or
/// null where the device, the driver or the environment has none or the
/// driver will not make it (cuMemAlloc then serves).
CUmemoryPool createPool(int ordinal) {
  const Driver &loaded = driver();
  CUdevice device;
  int supported = 0;
  if (poolsDisabled() || !driverHasPools(loaded) ||
      loaded.cuDeviceGet(&device, ordinal) != CUDA_SUCCESS ||
      loaded.cuDeviceGetAttribute(&supported,
                                  CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED,
                                  device) != CUDA_SUCCESS ||
      !supported)
    return nullptr;
  CUmemPoolProps properties = {};
  properties.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  properties.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
  properties.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  properties.location.id = ordinal;
  cuuint64_t keepAll = UINT64_MAX;
  CUmemoryPool pool = nullptr;
  if (loaded.cuMemPoolCreate(&pool, &properties) != CUDA_SUCCESS)
    return nullptr;
  if (loaded.cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                                   &keepAll) != CUDA_SUCCESS) {
    loaded.cuMemPoolDestroy(pool);
    return nullptr;
  }
  return pool;
}

/// The default device's pool (null where it has none), made on first use.
CUmemoryPool devicePool() {
  MemoryPools &all = memoryPools();
  std::lock_guard<std::mutex> lock(all.mutex);
  all.looked.resize(driver().deviceCount, false);
  all.pools.resize(driver().deviceCount, nullptr);
  if (!all.looked[defaultDevice]) {
    all.pools[defaultDevice] = createPool(defaultDevice);
    all.looked[defaultDevice] = true;
  }
  return all.pools[defaultDevice];
}

/// Gives the memory that the pools hold unused back to their devices,
/// each after waiting for its device (buffers given back on a stream count
/// as in use until the host has seen the stream reach the free): 0, or -1
/// with the first failure recorded. `trimmed` tells whether a pool was.
int trimPools(bool &trimmed) {
  std::vector<std::pair<int, CUmemoryPool>> made;
  {
    MemoryPools &all = memoryPools();
    std::lock_guard<std::mutex> lock(all.mutex);
    for (size_t device = 0; device < all.pools.size(); ++device)
      if (all.pools[device])
        made.emplace_back(device, all.pools[device]);
  }
  trimmed = false;
  int status = 0;
  for (auto [device, pool] : made) {
    int trim = onDevice(device, [&, pool = pool] {
      return inContext([&] {
        if (R2Q_CALL(cuCtxSynchronize))
          return -1;
        return R2Q_CALL(cuMemPoolTrimTo, pool, 0);
      });
    });
    trimmed |= trim == 0;
    if (trim && status == 0)
      status = -1;
  }
  return status;
}

/// `allocation()` (a driver call), tried again once after trimming the
/// pools where it ran out of memory; checked as `call`, with the size.
template <typename Allocation>
int allocateOrTrim(Allocation allocation, const char *call, uint64_t bytes) {
  CUresult result = allocation();
  if (result == CUDA_ERROR_OUT_OF_MEMORY) {
    bool trimmed = false;
    trimPools(trimmed);
    if (trimmed)
      result = allocation();
  }
  if (check(result, call))
    return fail(lastError() + " (allocating " + std::to_string(bytes) +
                " bytes)");
  return 0;
}

/// Device or managed memory (cuMemAlloc, cuMemAllocManaged).
int allocate(void **ptr, uint64_t bytes, bool managed) {
  *ptr = nullptr;
  if (bytes == 0)
    return 0;
  ContextScope scope;
  if (scope.failed())
    return -1;
  CUdeviceptr address = 0;
  if (allocateOrTrim(
          [&] {
            return managed ? driver().cuMemAllocManaged(&address, bytes,
                                                        CU_MEM_ATTACH_GLOBAL)
                           : driver().cuMemAlloc(&address, bytes);
          },
          managed ? "cuMemAllocManaged" : "cuMemAlloc", bytes))
    return -1;
  *ptr = reinterpret_cast<void *>(address);
  return 0;
}

/// Device memory for lowered code on `stream`: from the device's pool,
/// 256-byte aligned, or cuMemAlloc's where it has none or there is no
/// stream (a pool's allocation on the legacy stream would not be ordered
/// before work on the non-blocking streams that use it).
int allocateOnStream(void **ptr, uint64_t bytes, void *stream) {
  *ptr = nullptr;
  if (bytes == 0)
    return 0;
  ContextScope scope;
  if (scope.failed())
    return -1;
  CUmemoryPool pool = stream ? devicePool() : nullptr;
  if (!pool)
    return allocate(ptr, bytes, /*managed=*/false);
  CUdeviceptr taken = 0;
  if (allocateOrTrim(
          [&] {
            return driver().cuMemAllocFromPoolAsync(
                &taken, bytes + kPoolAlignment - 1, pool,
                static_cast<CUstream>(stream));
          },
          "cuMemAllocFromPoolAsync", bytes))
    return -1;
  CUdeviceptr rounded = (taken + kPoolAlignment - 1) & ~(kPoolAlignment - 1);
  *ptr = reinterpret_cast<void *>(rounded);
  MemoryPools &all = memoryPools();
  std::lock_guard<std::mutex> lock(all.mutex);
  all.blocks[*ptr] = PoolBlock{taken, defaultDevice};
  return 0;
}

/// The pool's block at `ptr`, forgotten (it is being freed); false where
/// `ptr` is no pool's.
bool takePoolBlock(void *ptr, PoolBlock &block) {
  MemoryPools &all = memoryPools();
  std::lock_guard<std::mutex> lock(all.mutex);
  auto found = all.blocks.find(ptr);
  if (found == all.blocks.end())
    return false;
  block = found->second;
  all.blocks.erase(found);
  return true;
}

/// Frees a pool's block at once, after its device's work: cuMemFree waits
/// for nothing for a pool's memory.
int releaseBlockAfterDevice(const PoolBlock &block) {
  return onDevice(block.device, [&] {
    int waited =
        finalWaitInContext([&] { return R2Q_FINAL_WAIT(cuCtxSynchronize); });
    std::string waitError = lastError();
    if (releaseInContext([&] { return R2Q_RELEASE(cuMemFree, block.taken); }))
      return -1;
    return waited ? fail(std::move(waitError)) : 0;
  });
}

/// Frees `ptr` at once; a pool's buffer after its device's work, as
/// cuMemFree may do for other memory: a harness (r2qCudaFree) frees a
/// result when it likes.
int release(void *ptr) {
  if (!ptr || releasePlaceholder(ptr))
    return 0;
  PoolBlock block;
  if (!takePoolBlock(ptr, block))
    return releaseInContext(
        [&] { return R2Q_RELEASE(cuMemFree, devicePointer(ptr)); });
  return releaseBlockAfterDevice(block);
}

/// Frees `ptr` in the order of `stream` (null: none): after the work queued
/// on it, kernels that may still use the buffer. A pool's buffer goes back
/// to it on the stream, without waiting; any other is freed after the
/// stream's work (cuMemFree waits for the device too, but does not promise
/// to). A failed wait (a kernel's fault) or a stream the driver refuses is
/// the error reported; the buffer is freed anyway (after the device's
/// work, where the stream was refused).
int releaseAfter(void *stream, void *ptr) {
  PoolBlock block;
  if (stream && takePoolBlock(ptr, block)) {
    if (onDevice(block.device, [&] {
          return releaseInContext([&] {
            return R2Q_RELEASE(cuMemFreeAsync, block.taken,
                               static_cast<CUstream>(stream));
          });
        }) == 0)
      return 0;
    std::string refused = lastError();
    releaseBlockAfterDevice(block);
    return fail(std::move(refused));
  }
  if (stream && finalWaitInContext([&] {
        return R2Q_FINAL_WAIT(cuStreamSynchronize,
                              static_cast<CUstream>(stream));
      })) {
    std::string waitError = lastError();
    release(ptr);
    return fail(std::move(waitError));
  }
  return release(ptr);
}

/// The devices a constant of lowered code can be copied to.
constexpr int kMaxConstantDevices = 64;

/// What a constant's slot points to: its copy on each device (null where
/// there is none yet), written under constantSlotsMutex, read without it.
struct ConstantCopies {
  std::atomic<void *> onDevice[kMaxConstantDevices] = {};
};

/// Guards the making and freeing of constants' copies
/// (r2qCudaDeviceConstant); constant-initialized, so usable by global
/// destructors at exit.
std::mutex constantSlotsMutex;

/// The ranked memref descriptor that lowered code passes by pointer:
/// allocated and aligned pointers, offset, then `rank` sizes and `rank`
/// strides (in elements).
struct MemRefView {
  char *data;
  const int64_t *sizes;
  const int64_t *strides;
  int64_t rank;
};

MemRefView viewMemRef(int64_t rank, void *descriptor,
                      int64_t elementSizeBytes) {
  auto *fields = static_cast<char *>(descriptor);
  char *aligned = *reinterpret_cast<char **>(fields + sizeof(void *));
  auto *integers = reinterpret_cast<int64_t *>(fields + 2 * sizeof(void *));
  int64_t offset = integers[0];
  return {aligned + offset * elementSizeBytes, integers + 1,
          integers + 1 + rank, rank};
}

/// The bytes a dense (row-major, gap-free) memref spans; fails otherwise.
int denseBytes(const MemRefView &memref, int64_t elementSizeBytes,
               uint64_t *bytes) {
  int64_t expectedStride = 1;
  for (int64_t dim = memref.rank - 1; dim >= 0; --dim) {
    if (memref.sizes[dim] > 1 && memref.strides[dim] != expectedStride)
      return fail("r2q: cannot register a memref with strides that are not "
                  "dense row-major (dimension " +
                  std::to_string(dim) + " has stride " +
                  std::to_string(memref.strides[dim]) + ", expected " +
                  std::to_string(expectedStride) + ")");
    expectedStride *= memref.sizes[dim];
  }
  *bytes = static_cast<uint64_t>(expectedStride * elementSizeBytes);
  return 0;
}

int registerHost(void *ptr, uint64_t bytes) {
  if (bytes == 0)
    return 0;
  return inContext([&] { return R2Q_CALL(cuMemHostRegister, ptr, bytes, 0); });
}

int unregisterHost(void *ptr) {
  return releaseInContext(
      [&] { return R2Q_RELEASE(cuMemHostUnregister, ptr); });
}

/// Bytes per element of each CUtensorMapDataType up to TFLOAT32_FTZ.
int tensorMapElementBytes(int64_t dataType) {
  static const int bytes[] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
  return dataType >= 0 && dataType < int64_t(sizeof(bytes) / sizeof(int))
             ? bytes[dataType]
             : 0;
}

int encodeTensorMap(void **deviceMap, int64_t rank, void *descriptor,
                    int64_t dataType, int64_t interleave, int64_t swizzle,
                    int64_t l2Promotion, int64_t oobFill,
                    const int64_t *boxDims) {
  int elementBytes = tensorMapElementBytes(dataType);
  if (rank < 1 || rank > 5 || !elementBytes)
    return fail("r2q: cannot encode a TMA descriptor of rank " +
                std::to_string(rank) + " and CUtensorMapDataType " +
                std::to_string(dataType) + " (rank 1-5, types 0-12)");
  ContextScope scope;
  if (scope.failed())
    return -1;
  if (!driver().cuTensorMapEncodeTiled)
    return fail("r2q: the driver lacks cuTensorMapEncodeTiled (CUDA 12+)");
  MemRefView memref = viewMemRef(rank, descriptor, elementBytes);
  // The driver counts dimensions innermost first; strides in bytes, without
  // the innermost (unit) one.
  cuuint64_t globalDim[5] = {1, 1, 1, 1, 1}, globalStrides[5] = {0};
  cuuint32_t boxDim[5] = {1, 1, 1, 1, 1}, elementStrides[5] = {1, 1, 1, 1, 1};
  for (int64_t r = 0; r < rank; ++r) {
    globalDim[r] = memref.sizes[rank - 1 - r];
    boxDim[r] = static_cast<cuuint32_t>(boxDims[rank - 1 - r]);
    if (r + 1 < rank)
      globalStrides[r] = memref.strides[rank - 2 - r] * elementBytes;
  }
  CUtensorMap map;
  if (R2Q_CALL(cuTensorMapEncodeTiled, &map,
               static_cast<CUtensorMapDataType>(dataType), rank, memref.data,
               globalDim, globalStrides, boxDim, elementStrides,
               static_cast<CUtensorMapInterleave>(interleave),
               static_cast<CUtensorMapSwizzle>(swizzle),
               static_cast<CUtensorMapL2promotion>(l2Promotion),
               static_cast<CUtensorMapFloatOOBfill>(oobFill)) ||
      allocate(deviceMap, sizeof(map), /*managed=*/false))
    return -1;
  // From pageable memory the copy may return before the map reaches the
  // device, and the kernels that read it run on non-blocking streams.
  if (R2Q_CALL(cuMemcpyHtoD, devicePointer(*deviceMap), &map, sizeof(map)))
    return -1;
  return R2Q_CALL(cuCtxSynchronize);
}

int createEvent(void **event, unsigned flags) {
  *event = nullptr;
  return inContext([&] {
    return R2Q_CALL(cuEventCreate, reinterpret_cast<CUevent *>(event), flags);
  });
}

//===----------------------------------------------------------------------===//
// Streams of lowered code
//===----------------------------------------------------------------------===//

/// A caller's stream (r2qCudaBeginCallStream) and the device whose
/// primary context it belongs to.
struct CallStream {
  CUstream stream;
  int device;
};

/// The callers' streams of this thread, the innermost last: while there is
/// one, lowered code that runs on its device runs on it.
thread_local std::vector<CallStream> callStreams;

bool isCallStream(const void *stream) {
  return std::any_of(
      callStreams.begin(), callStreams.end(),
      [&](const CallStream &call) { return call.stream == stream; });
}

/// 0 where lowered code can run on `stream`, the caller's, in the default
/// device's primary context (current); else -1 with the reason: a stream
/// of another context, one capturing a CUDA graph (a call synchronizes its
/// stream, which capture forbids), or a device whose managed memory the
/// host may not touch while kernels run (host code of a call may, while
/// the caller's earlier work still runs).
int checkCallersStream(CUstream stream) {
  const Driver &loaded = driver();
  if (!loaded.cuStreamGetCtx || !loaded.cuStreamIsCapturing)
    return fail("r2q: this CUDA driver lacks cuStreamGetCtx or "
                "cuStreamIsCapturing, so a caller's stream cannot be checked");
  CUcontext context = nullptr, primary = nullptr;
  if (R2Q_CALL(cuStreamGetCtx, stream, &context) || primaryContext(&primary))
    return -1;
  std::string device = "device " + std::to_string(defaultDevice);
  if (context != primary)
    return fail("r2q: the caller's stream belongs to another CUDA context "
                "than the primary context of " +
                device + ", where the call runs");
  CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
  if (R2Q_CALL(cuStreamIsCapturing, stream, &capture))
    return -1;
  if (capture != CU_STREAM_CAPTURE_STATUS_NONE)
    return fail("r2q: the caller's stream is capturing a CUDA graph, and a "
                "call synchronizes its stream before it returns");
  CUdevice handle;
  int concurrent = 0;
  if (R2Q_CALL(cuDeviceGet, &handle, defaultDevice) ||
      R2Q_CALL(cuDeviceGetAttribute, &concurrent,
               CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS, handle))
    return -1;
  if (!concurrent)
    return fail("r2q: " + device +
                " cannot share managed memory with the host while kernels "
                "run (CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS is 0), "
                "so a call does not run after the caller's work unwaited");
  return 0;
}

/// The streams that mgpuStreamCreate made, by device, and those of them
/// that lowered code has destroyed since: mgpuStreamDestroy keeps a stream
/// for the next call on its device instead of destroying it, so a call
/// costs no cuStreamCreate and cuStreamDestroy. (A kept stream may still
/// hold the last call's work; the next call's is queued after it.)
struct LoweredCodeStreams {
  std::mutex mutex;
  std::map<CUstream, int> deviceOf;
  std::map<int, std::vector<CUstream>> idle;
};

LoweredCodeStreams &loweredCodeStreams() {
  static auto *instance = new LoweredCodeStreams;
  return *instance;
}

/// The stream for lowered code: the caller's (r2qCudaBeginCallStream), or
/// one of the runtime's for the default device: an idle one, or a new
/// non-blocking one.
int takeStream(void **stream) {
  if (!callStreams.empty() && callStreams.back().device == defaultDevice) {
    *stream = callStreams.back().stream;
    return 0;
  }
  LoweredCodeStreams &all = loweredCodeStreams();
  {
    std::lock_guard<std::mutex> lock(all.mutex);
    std::vector<CUstream> &idle = all.idle[defaultDevice];
    if (!idle.empty()) {
      *stream = idle.back();
      idle.pop_back();
      return 0;
    }
  }
  if (r2qCudaStreamCreate(stream))
    return -1;
  std::lock_guard<std::mutex> lock(all.mutex);
  all.deviceOf[static_cast<CUstream>(*stream)] = defaultDevice;
  return 0;
}

/// Keeps a stream that takeStream made for the next call on its device;
/// destroys any other.
int giveBackStream(void *stream) {
  LoweredCodeStreams &all = loweredCodeStreams();
  {
    std::lock_guard<std::mutex> lock(all.mutex);
    auto found = all.deviceOf.find(static_cast<CUstream>(stream));
    if (found != all.deviceOf.end()) {
      std::vector<CUstream> &idle = all.idle[found->second];
      if (std::find(idle.begin(), idle.end(), found->first) == idle.end())
        idle.push_back(found->first); // (once, if destroyed twice)
      return 0;
    }
  }
  return r2qCudaStreamDestroy(stream);
}

} // namespace

//===----------------------------------------------------------------------===//
// The harness API
//===----------------------------------------------------------------------===//

extern "C" {

const char *r2qCudaLastError(void) { return lastError().c_str(); }

void r2qCudaBeginErrorScope(void) { ++errorScope.depth; }

int r2qCudaEndErrorScope(void) {
  if (errorScope.depth == 0)
    return fail("r2q: r2qCudaEndErrorScope without an open error scope");
  if (!errorScope.failed) {
    --errorScope.depth;
    return 0;
  }
  std::string message = errorScope.firstError;
  if (--errorScope.depth == 0) {
    errorScope.failed = false;
    errorScope.firstError.clear();
    // The kernels that the failed call launched before its failure may
    // still run: wait for them, so that its caller can free or reuse what
    // they read and write. (After a fault this fails too: nothing runs.)
    r2qCudaSynchronize();
  }
  return fail(std::move(message));
}

const char *r2qCudaDriverPath(void) { return driver().path.c_str(); }

const char *r2qCudaUnavailableReason(void) {
  const Driver &loaded = driver();
  return loaded.unavailable.empty() ? nullptr : loaded.unavailable.c_str();
}

int r2qCudaDeviceCount(int *count) {
  *count = 0;
  if (requireGpu())
    return -1;
  *count = driver().deviceCount;
  return 0;
}

int r2qCudaDeviceInfo(int ordinal, R2QCudaDeviceInfo *info) {
  *info = R2QCudaDeviceInfo{};
  CUdevice device;
  if (requireDevice(ordinal) || R2Q_CALL(cuDeviceGet, &device, ordinal) ||
      R2Q_CALL(cuDeviceGetName, info->name, sizeof(info->name), device) ||
      R2Q_CALL(cuDeviceTotalMem, &info->totalMemoryBytes, device))
    return -1;
  struct {
    int *value;
    CUdevice_attribute attribute;
  } attributes[] = {
      {&info->computeCapabilityMajor,
       CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR},
      {&info->computeCapabilityMinor,
       CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR},
      {&info->multiprocessorCount, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT},
      {&info->maxSharedMemoryPerBlockOptin,
       CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN}};
  for (auto &entry : attributes)
    if (R2Q_CALL(cuDeviceGetAttribute, entry.value, entry.attribute, device))
      return -1;
  info->driverVersion = driver().version;
  return 0;
}

int r2qCudaSetDevice(int ordinal) {
  if (requireDevice(ordinal))
    return -1;
  defaultDevice = ordinal;
  return 0;
}

int r2qCudaMalloc(void **devicePtr, size_t bytes) {
  return allocate(devicePtr, bytes, /*managed=*/false);
}

int r2qCudaFree(void *devicePtr) { return release(devicePtr); }

int r2qCudaFreeOnStream(void *devicePtr, void *stream) {
  return releaseAfter(stream ? stream : CU_STREAM_LEGACY, devicePtr);
}

int r2qCudaCopyToDevice(void *dst, const void *src, size_t bytes) {
  // From pageable memory cuMemcpyHtoD may return before the data reaches
  // the device, and lowered code launches on non-blocking streams, which
  // do not wait for the legacy stream: wait for the copy here.
  return inContext([&] {
    if (int status = R2Q_CALL(cuMemcpyHtoD, devicePointer(dst), src, bytes))
      return status;
    return R2Q_CALL(cuCtxSynchronize);
  });
}

int r2qCudaCopyToHost(void *dst, const void *src, size_t bytes) {
  return inContext(
      [&] { return R2Q_CALL(cuMemcpyDtoH, dst, devicePointer(src), bytes); });
}

int r2qCudaCopyDeviceToDevice(void *dst, const void *src, size_t bytes,
                              void *stream) {
  return inContext([&] {
    return R2Q_CALL(cuMemcpyDtoDAsync, devicePointer(dst), devicePointer(src),
                    bytes, static_cast<CUstream>(stream));
  });
}

int r2qCudaPointerDevice(const void *ptr, int *ordinal) {
  *ordinal = -1;
  return inContext([&] {
    int device = -1;
    CUresult result = driver().cuPointerGetAttribute(
        &device, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, devicePointer(ptr));
    if (result == CUDA_ERROR_INVALID_VALUE)
      return 0; // Memory the driver does not know: the host's.
    if (int status = check(result, "cuPointerGetAttribute"))
      return status;
    *ordinal = device;
    return 0;
  });
}

int r2qCudaSynchronize(void) {
  return inContext([&] { return R2Q_CALL(cuCtxSynchronize); });
}

int r2qCudaStreamCreate(void **stream) {
  *stream = nullptr;
  return inContext([&] {
    return R2Q_CALL(cuStreamCreate, reinterpret_cast<CUstream *>(stream),
                    CU_STREAM_NON_BLOCKING);
  });
}

int r2qCudaStreamDestroy(void *stream) {
  return releaseInContext([&] {
    return R2Q_RELEASE(cuStreamDestroy, static_cast<CUstream>(stream));
  });
}

int r2qCudaStreamSynchronize(void *stream) {
  return inContext([&] {
    return R2Q_CALL(cuStreamSynchronize, static_cast<CUstream>(stream));
  });
}

int r2qCudaBeginCallStream(void *stream) {
  CUstream handle = stream ? static_cast<CUstream>(stream) : CU_STREAM_LEGACY;
  if (inContext([&] { return checkCallersStream(handle); }))
    return -1;
  callStreams.push_back({handle, defaultDevice});
  return 0;
}

int r2qCudaEndCallStream(void) {
  if (callStreams.empty())
    return fail("r2q: r2qCudaEndCallStream without a caller's stream");
  callStreams.pop_back();
  return 0;
}

int r2qCudaTrimMemoryPools(void) {
  if (requireGpu())
    return -1;
  bool trimmed = false;
  return trimPools(trimmed);
}

int r2qCudaTimingEventCreate(void **event) {
  return createEvent(event, CU_EVENT_DEFAULT);
}

int r2qCudaEventDestroy(void *event) {
  return releaseInContext(
      [&] { return R2Q_RELEASE(cuEventDestroy, static_cast<CUevent>(event)); });
}

int r2qCudaEventRecord(void *event, void *stream) {
  return inContext([&] {
    return R2Q_CALL(cuEventRecord, static_cast<CUevent>(event),
                    static_cast<CUstream>(stream));
  });
}

int r2qCudaEventElapsedMs(float *milliseconds, void *start, void *end) {
  *milliseconds = 0;
  ContextScope scope;
  if (scope.failed() || R2Q_CALL(cuEventSynchronize, static_cast<CUevent>(end)))
    return -1;
  if (!driver().cuEventElapsedTime)
    return fail(std::string("r2q: the driver lacks ") +
                R2Q_VERSIONED_NAME(cuEventElapsedTime));
  return R2Q_CALL(cuEventElapsedTime, milliseconds, static_cast<CUevent>(start),
                  static_cast<CUevent>(end));
}

int r2qCudaModuleLoad(void **module, const void *data, size_t bytes,
                      int optLevel) {
  *module = nullptr;
  return loadModule(reinterpret_cast<CUmodule *>(module), data, bytes,
                    optLevel);
}

int r2qCudaModuleUnload(void *module) {
  forgetKernels(static_cast<CUmodule>(module));
  return releaseInContext([&] {
    return R2Q_RELEASE(cuModuleUnload, static_cast<CUmodule>(module));
  });
}

int r2qCudaModuleGetFunction(void **function, void *module, const char *name) {
  *function = nullptr;
  return getFunction(reinterpret_cast<CUfunction *>(function),
                     static_cast<CUmodule>(module), name);
}

int r2qCudaLaunch(void *function, const int64_t grid[3], const int64_t block[3],
                  int32_t sharedMemoryBytes, void *stream, void **params) {
  return launch(static_cast<CUfunction>(function), grid, block, nullptr,
                sharedMemoryBytes, static_cast<CUstream>(stream), params,
                nullptr);
}

int r2qCudaKernelInfo(void *function, int blockThreads, int dynamicSharedBytes,
                      R2QCudaKernelInfo *info) {
  *info = {};
  return inContext([&] {
    if (!driver().cuFuncGetAttribute ||
        !driver().cuOccupancyMaxActiveBlocksPerMultiprocessor)
      return fail("r2q: the driver lacks cuFuncGetAttribute or "
                  "cuOccupancyMaxActiveBlocksPerMultiprocessor");
    auto kernel = static_cast<CUfunction>(function);
    auto attribute = [&](int *value, CUfunction_attribute which) {
      return R2Q_CALL(cuFuncGetAttribute, value, which, kernel);
    };
    if (attribute(&info->registers, CU_FUNC_ATTRIBUTE_NUM_REGS) ||
        attribute(&info->localBytes, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES) ||
        attribute(&info->staticSharedBytes,
                  CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES) ||
        attribute(&info->binaryVersion, CU_FUNC_ATTRIBUTE_BINARY_VERSION))
      return -1;
    return R2Q_CALL(cuOccupancyMaxActiveBlocksPerMultiprocessor,
                    &info->blocksPerSM, kernel, blockThreads,
                    static_cast<size_t>(dynamicSharedBytes));
  });
}

//===----------------------------------------------------------------------===//
// The mgpu* entry points of lowered code
//===----------------------------------------------------------------------===//

void *mgpuModuleLoad(void *data, size_t bytes) {
  void *module = nullptr;
  gpuWork(__func__, [&] { return r2qCudaModuleLoad(&module, data, bytes, 4); });
  return module;
}

void *mgpuModuleLoadJIT(void *data, int optLevel) {
  void *module = nullptr;
  size_t bytes = std::strlen(static_cast<const char *>(data)) + 1;
  gpuWork(__func__,
          [&] { return r2qCudaModuleLoad(&module, data, bytes, optLevel); });
  return module;
}

void mgpuModuleUnload(void *module) {
  releaseWork(module, __func__, [&] { return r2qCudaModuleUnload(module); });
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  void *function = nullptr;
  gpuWork(__func__,
          [&] { return r2qCudaModuleGetFunction(&function, module, name); });
  return function;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  if (emptyGrid(gridX, gridY, gridZ))
    return;
  int64_t grid[3] = {gridX, gridY, gridZ};
  int64_t block[3] = {blockX, blockY, blockZ};
  gpuWork(__func__, [&] {
    return launch(static_cast<CUfunction>(function), grid, block, nullptr, smem,
                  static_cast<CUstream>(stream), params, extra);
  });
}

void mgpuLaunchClusterKernel(void *function, intptr_t clusterX,
                             intptr_t clusterY, intptr_t clusterZ,
                             intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                             intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                             int32_t smem, void *stream, void **params,
                             void **extra, size_t /*paramsCount*/) {
  if (emptyGrid(gridX, gridY, gridZ))
    return;
  int64_t cluster[3] = {clusterX, clusterY, clusterZ};
  int64_t grid[3] = {gridX, gridY, gridZ};
  int64_t block[3] = {blockX, blockY, blockZ};
  gpuWork(__func__, [&] {
    return launch(static_cast<CUfunction>(function), grid, block, cluster, smem,
                  static_cast<CUstream>(stream), params, extra);
  });
}

void *mgpuStreamCreate(void) {
  void *stream = nullptr;
  gpuWork(__func__, [&] { return takeStream(&stream); });
  return stream;
}

void mgpuStreamDestroy(void *stream) {
  if (!isCallStream(stream))
    releaseWork(stream, __func__, [&] { return giveBackStream(stream); });
}

void mgpuStreamSynchronize(void *stream) {
  waitWork(stream, __func__, [&] { return r2qCudaStreamSynchronize(stream); });
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  gpuWork(__func__, [&] {
    return inContext([&] {
      return R2Q_CALL(cuStreamWaitEvent, static_cast<CUstream>(stream),
                      static_cast<CUevent>(event), 0);
    });
  });
}

void *mgpuEventCreate(void) {
  void *event = nullptr;
  gpuWork(__func__,
          [&] { return createEvent(&event, CU_EVENT_DISABLE_TIMING); });
  return event;
}

void mgpuEventDestroy(void *event) {
  releaseWork(event, __func__, [&] { return r2qCudaEventDestroy(event); });
}

void mgpuEventSynchronize(void *event) {
  waitWork(event, __func__, [&] {
    return inContext([&] {
      return R2Q_CALL(cuEventSynchronize, static_cast<CUevent>(event));
    });
  });
}

void mgpuEventRecord(void *event, void *stream) {
  gpuWork(__func__, [&] { return r2qCudaEventRecord(event, stream); });
}

void *mgpuMemAlloc(uint64_t bytes, void *stream, bool isHostShared) {
  void *ptr = nullptr;
  gpuWork(__func__, [&] {
    return isHostShared ? allocate(&ptr, bytes, /*managed=*/true)
                        : allocateOnStream(&ptr, bytes, stream);
  });
  return ptr || !skipAfterFailure() ? ptr : placeholder(bytes);
}

void mgpuMemFree(void *ptr, void *stream) {
  releaseWork(ptr, __func__, [&] { return releaseAfter(stream, ptr); });
}

void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream) {
  gpuWork(__func__, [&] {
    return inContext([&] {
      return R2Q_CALL(cuMemcpyAsync, devicePointer(dst), devicePointer(src),
                      bytes, static_cast<CUstream>(stream));
    });
  });
}

void mgpuMemset32(void *dst, unsigned int value, size_t count, void *stream) {
  gpuWork(__func__, [&] {
    return inContext([&] {
      return R2Q_CALL(cuMemsetD32Async, devicePointer(dst), value, count,
                      static_cast<CUstream>(stream));
    });
  });
}

void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream) {
  gpuWork(__func__, [&] {
    return inContext([&] {
      return R2Q_CALL(cuMemsetD16Async, devicePointer(dst), value, count,
                      static_cast<CUstream>(stream));
    });
  });
}

void mgpuMemHostRegister(void *ptr, uint64_t bytes) {
  gpuWork(__func__, [&] { return registerHost(ptr, bytes); });
}

void mgpuMemHostUnregister(void *ptr) {
  releaseWork(ptr, __func__, [&] { return unregisterHost(ptr); });
}

void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                               int64_t elementSizeBytes) {
  MemRefView memref = viewMemRef(rank, descriptor, elementSizeBytes);
  uint64_t bytes = 0;
  gpuWork(__func__, [&] {
    return denseBytes(memref, elementSizeBytes, &bytes) ||
                   registerHost(memref.data, bytes)
               ? -1
               : 0;
  });
}

void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                 int64_t elementSizeBytes) {
  MemRefView memref = viewMemRef(rank, descriptor, elementSizeBytes);
  uint64_t bytes = 0;
  if (denseBytes(memref, elementSizeBytes, &bytes) == 0 && bytes == 0)
    return; // Never registered (see registerHost).
  releaseWork(memref.data, __func__,
              [&] { return unregisterHost(memref.data); });
}

void mgpuSetDefaultDevice(int32_t device) {
  gpuWork(__func__, [&] { return r2qCudaSetDevice(device); });
}

void *mgpuTensorMapEncodeTiledMemref(int64_t rank, void *descriptor,
                                     int64_t dataType, int64_t interleave,
                                     int64_t swizzle, int64_t l2Promotion,
                                     int64_t oobFill, int64_t *boxDims) {
  void *deviceMap = nullptr;
  gpuWork(__func__, [&] {
    return encodeTensorMap(&deviceMap, rank, descriptor, dataType, interleave,
                           swizzle, l2Promotion, oobFill, boxDims);
  });
  return deviceMap;
}

//===----------------------------------------------------------------------===//
// Constants of lowered code, copied to the device once
//===----------------------------------------------------------------------===//

} // extern "C"

namespace {

/// This device's copy of the constant in `slot`: the one made before, read
/// without a lock, or one made now under the lock.
int deviceConstant(void **copy, void **slot, const void *host, uint64_t bytes,
                   bool managed) {
  if (defaultDevice >= kMaxConstantDevices)
    return fail("r2q: constants are cached for devices 0-" +
                std::to_string(kMaxConstantDevices - 1) + ", not device " +
                std::to_string(defaultDevice));
  auto *copies =
      static_cast<ConstantCopies *>(__atomic_load_n(slot, __ATOMIC_ACQUIRE));
  if (copies && (*copy = copies->onDevice[defaultDevice].load()))
    return 0;
  std::lock_guard<std::mutex> lock(constantSlotsMutex);
  if (!*slot)
    __atomic_store_n(slot, new ConstantCopies, __ATOMIC_RELEASE);
  copies = static_cast<ConstantCopies *>(*slot);
  std::atomic<void *> &entry = copies->onDevice[defaultDevice];
  if ((*copy = entry.load()))
    return 0;
  if (allocate(copy, bytes, managed))
    return -1;
  if (r2qCudaCopyToDevice(*copy, host, bytes)) {
    release(*copy);
    *copy = nullptr;
    return -1;
  }
  entry.store(*copy);
  return 0;
}

/// Frees the copies in `slot`, each in its device's context, and clears it.
int releaseDeviceConstant(void **slot) {
  std::lock_guard<std::mutex> lock(constantSlotsMutex);
  auto *copies = static_cast<ConstantCopies *>(*slot);
  __atomic_store_n(slot, nullptr, __ATOMIC_RELEASE);
  if (!copies)
    return 0;
  int status = 0;
  for (int device = 0; device < kMaxConstantDevices; ++device)
    if (void *copy = copies->onDevice[device].load())
      status |= onDevice(device, [&] { return release(copy); });
  delete copies;
  return status;
}

/// 0 when `address` is a multiple of `alignment`; else the error that
/// names the buffer (`description`).
int checkAlignment(uint64_t address, uint64_t alignment,
                   const char *description) {
  if (alignment == 0 || address % alignment == 0)
    return 0;
  char hex[2 + 16 + 1];
  std::snprintf(hex, sizeof(hex), "0x%llx",
                static_cast<unsigned long long>(address));
  return fail(std::string("r2q: ") + description + " starts at address " + hex +
              ", not at a multiple of " + std::to_string(alignment) +
              " bytes as the kernel's loads of it require; pass memory that "
              "cuMemAlloc returned (256-byte aligned), or a view of it that "
              "starts at such a multiple");
}

} // namespace

extern "C" {

void *r2qCudaDeviceConstant(void **slot, const void *host, uint64_t bytes,
                            int32_t managed) {
  if (bytes == 0)
    return const_cast<void *>(host); // Nothing to read; never freed.
  void *copy = nullptr;
  gpuWork(__func__, [&] {
    return deviceConstant(&copy, slot, host, bytes, managed != 0);
  });
  // After a failure in an error scope no kernel runs: the host's data
  // stands in for the copy (host code may still read it).
  return copy ? copy : const_cast<void *>(host);
}

void r2qCudaCheckAlignment(uint64_t address, uint64_t alignment,
                           const char *description) {
  gpuWork(__func__,
          [&] { return checkAlignment(address, alignment, description); });
}

void r2qCudaReleaseDeviceConstant(void **slot) {
  releaseWork(slot, __func__, [&] { return releaseDeviceConstant(slot); });
}

} // extern "C"
