//===- CudaRuntime.h - r2q's CUDA driver-API runtime ------------*- C++ -*-===//
//
// libr2q_cuda_runtime.so: the `mgpu*` entry points that host code lowered by
// MLIR's gpu-to-llvm and #gpu.select_object calls, and a small API for r2q's
// own harnesses, both on the CUDA driver API. The library does not link
// libcuda: it loads the driver (libcuda.so.1, or the path in the environment
// variable R2Q_CUDA_DRIVER) with dlopen on first use, so it builds and loads
// on machines without a GPU. It depends on libc and libdl only (libstdc++ is
// linked statically), so it can be copied alone to a GPU machine.
//
// Errors: the harness API below returns every error as a status with one
// message (the driver call, the CUDA error's name and string, the kernel's
// name for launches and function lookups). The mgpu* entry points have no
// error channel back into lowered code: they print the same message on
// stderr and abort(), unless the caller of the lowered code opened an error
// scope (r2qCudaBeginErrorScope), which returns the first failure to it.
// docs/gpu.md describes both.
//
// The C functions (r2qCuda*) are the library's ABI; the inline C++ wrappers
// in namespace r2q::cuda turn their statuses into strings.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_RUNTIME_CUDARUNTIME_H
#define R2Q_RUNTIME_CUDARUNTIME_H

#include <stddef.h>
#include <stdint.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

#ifdef __cplusplus
#include <string>
extern "C" {
#endif

#define R2Q_CUDA_EXPORT __attribute__((visibility("default")))

/// Properties of one device, as the driver reports them.
typedef struct R2QCudaDeviceInfo {
  char name[256];
  int computeCapabilityMajor;
  int computeCapabilityMinor;
  int multiprocessorCount;
  /// The most dynamic shared memory one block may opt in to, in bytes.
  int maxSharedMemoryPerBlockOptin;
  size_t totalMemoryBytes;
  /// The driver's CUDA version, e.g. 13000 for CUDA 13.0.
  int driverVersion;
} R2QCudaDeviceInfo;

/// Every r2qCuda* function below that returns int returns 0 on success and
/// -1 on failure; r2qCudaLastError() then holds the message (per thread).
R2Q_CUDA_EXPORT const char *r2qCudaLastError(void);

/// Opens an error scope on the calling thread, for a caller of lowered code
/// that can report an error (the Python module, a harness). Until the
/// matching r2qCudaEndErrorScope, a failing mgpu* entry point (or
/// r2qCudaDeviceConstant) records its message instead of aborting, and the
/// entry points called after it do no GPU work: they launch nothing, copy
/// nothing and return null handles, so the lowered code runs to its end
/// quickly and computes nothing. Memory they allocate then is zeroed host
/// memory (lowered code may write to its managed buffers on the host);
/// r2qCudaFree and mgpuMemFree free it. Freeing entry points still free
/// what was made before the failure. Scopes nest.
R2Q_CUDA_EXPORT void r2qCudaBeginErrorScope(void);
/// Closes the innermost error scope: 0 if no entry point failed in it;
/// otherwise -1 with the first failure's message in r2qCudaLastError(),
/// after waiting for the device (closing the outermost scope), so that no
/// kernel of the failed call still runs. The results of the lowered code
/// called in a failed scope are meaningless.
R2Q_CUDA_EXPORT int r2qCudaEndErrorScope(void);

/// The driver library that is (or will be) loaded: $R2Q_CUDA_DRIVER, or
/// libcuda.so.1 found by the dynamic loader.
R2Q_CUDA_EXPORT const char *r2qCudaDriverPath(void);

/// NULL when a GPU can be used; otherwise why not, starting with
/// "r2q: no NVIDIA GPU: " (no driver, a stub driver, cuInit failing, no
/// device). Loads and initializes the driver on the first call.
R2Q_CUDA_EXPORT const char *r2qCudaUnavailableReason(void);

R2Q_CUDA_EXPORT int r2qCudaDeviceCount(int *count);
R2Q_CUDA_EXPORT int r2qCudaDeviceInfo(int ordinal, R2QCudaDeviceInfo *info);
/// The device that later calls of this thread use (mgpuSetDefaultDevice
/// sets the same value); device 0 unless set.
R2Q_CUDA_EXPORT int r2qCudaSetDevice(int ordinal);

R2Q_CUDA_EXPORT int r2qCudaMalloc(void **devicePtr, size_t bytes);
/// Frees r2qCudaMalloc's memory, or a buffer that lowered code returned
/// (from the memory pool: freed after the device's work, cuCtxSynchronize).
R2Q_CUDA_EXPORT int r2qCudaFree(void *devicePtr);
/// Frees `devicePtr` in the order of `stream` (NULL: the legacy default
/// stream), with no wait on the host for a buffer that lowered code
/// returned: it goes back to the memory pool after the work queued on
/// `stream` so far (other memory is freed after the host waits for the
/// stream). For a result used on that stream only (the stream its call ran
/// on, r2qCudaBeginCallStream), as PyTorch frees its own tensors' memory.
R2Q_CUDA_EXPORT int r2qCudaFreeOnStream(void *devicePtr, void *stream);
/// Returns when the data is on the device (the copy is synchronous even from
/// pageable memory, so kernels launched next on any stream see it).
R2Q_CUDA_EXPORT int r2qCudaCopyToDevice(void *dst, const void *src,
                                        size_t bytes);
R2Q_CUDA_EXPORT int r2qCudaCopyToHost(void *dst, const void *src, size_t bytes);
/// Asynchronous on `stream` (NULL: the legacy default stream).
R2Q_CUDA_EXPORT int r2qCudaCopyDeviceToDevice(void *dst, const void *src,
                                              size_t bytes, void *stream);
R2Q_CUDA_EXPORT int r2qCudaSynchronize(void);
/// The ordinal of the device whose memory `ptr` points into (device or
/// managed memory), or -1 for memory the driver does not know (the host's).
R2Q_CUDA_EXPORT int r2qCudaPointerDevice(const void *ptr, int *ordinal);

R2Q_CUDA_EXPORT int r2qCudaStreamCreate(void **stream);
R2Q_CUDA_EXPORT int r2qCudaStreamDestroy(void *stream);
R2Q_CUDA_EXPORT int r2qCudaStreamSynchronize(void *stream);
/// Until the matching r2qCudaEndCallStream, the lowered code that this
/// thread calls runs on `stream`, the caller's (NULL: the legacy default
/// stream, CU_STREAM_LEGACY), instead of a stream of the runtime's:
/// mgpuStreamCreate returns it (while the default device is the one it was
/// begun on) and mgpuStreamDestroy leaves it. The code's work is then
/// queued after what the caller queued on `stream` before the call, with no
/// wait on the host before it (a caller such as PyTorch need not
/// synchronize its stream first), and its device buffers come from the pool
/// on `stream`. The code still synchronizes the stream before it returns.
/// Calls nest. Fails (and changes nothing: the caller then synchronizes its
/// stream and calls as before) for a stream of another context than the
/// default device's primary one, a stream capturing a CUDA graph, a device
/// without concurrent managed access, or a driver that cannot tell.
R2Q_CUDA_EXPORT int r2qCudaBeginCallStream(void *stream);
R2Q_CUDA_EXPORT int r2qCudaEndCallStream(void);
/// Gives back to each device the memory that its pool holds unused (the
/// pool keeps the most that lowered code ever had live at once, for the
/// next calls), after waiting for the device.
R2Q_CUDA_EXPORT int r2qCudaTrimMemoryPools(void);

/// Events that record time (mgpuEventCreate's do not).
R2Q_CUDA_EXPORT int r2qCudaTimingEventCreate(void **event);
R2Q_CUDA_EXPORT int r2qCudaEventDestroy(void *event);
R2Q_CUDA_EXPORT int r2qCudaEventRecord(void *event, void *stream);
/// Waits for `end`, then gives the time from `start` to `end`.
R2Q_CUDA_EXPORT int r2qCudaEventElapsedMs(float *milliseconds, void *start,
                                          void *end);

/// Loads a cubin, a fatbin or PTX text (`bytes` may count a terminating NUL
/// or not); PTX is compiled by the driver's JIT at `optLevel` (0-4), and a
/// JIT failure's message holds the JIT's error log.
R2Q_CUDA_EXPORT int r2qCudaModuleLoad(void **module, const void *data,
                                      size_t bytes, int optLevel);
R2Q_CUDA_EXPORT int r2qCudaModuleUnload(void *module);
R2Q_CUDA_EXPORT int r2qCudaModuleGetFunction(void **function, void *module,
                                             const char *name);
/// Launches `function` (from r2qCudaModuleGetFunction) with `params`, an
/// array of pointers to each argument's value. Dynamic shared memory above
/// 48 KiB is opted in to first.
R2Q_CUDA_EXPORT int r2qCudaLaunch(void *function, const int64_t grid[3],
                                  const int64_t block[3],
                                  int32_t sharedMemoryBytes, void *stream,
                                  void **params);

/// What the driver says about a loaded kernel (a CUfunction: from
/// r2qCudaModuleGetFunction, or as lowered code passes it to
/// mgpuLaunchKernel).
typedef struct R2QCudaKernelInfo {
  int registers;         ///< per thread
  int localBytes;        ///< per thread: spills and stack
  int staticSharedBytes; ///< per block
  /// The compute capability (x 10) of the machine code the driver loaded:
  /// the cubin's, or the JIT's from PTX.
  int binaryVersion;
  /// Blocks of `blockThreads` threads and `dynamicSharedBytes` that fit on
  /// one SM at once (the occupancy the launch can reach).
  int blocksPerSM;
} R2QCudaKernelInfo;
R2Q_CUDA_EXPORT int r2qCudaKernelInfo(void *function, int blockThreads,
                                      int dynamicSharedBytes,
                                      R2QCudaKernelInfo *info);

//===----------------------------------------------------------------------===//
// The entry points that MLIR 22's gpu-to-llvm, #gpu.select_object and
// convert-nvgpu-to-nvvm emit calls to (signatures as emitted; CUmodule,
// CUfunction, CUstream and CUevent are opaque pointers). Each aborts with a
// message on stderr when the driver reports an error, outside an error
// scope (r2qCudaBeginErrorScope).
//===----------------------------------------------------------------------===//

/// A cubin or fatbin (`gpu-module-to-binary{format=bin|fatbin}`); PTX text
/// is JIT-compiled as by mgpuModuleLoadJIT at level 4.
R2Q_CUDA_EXPORT void *mgpuModuleLoad(void *data, size_t bytes);
/// NUL-terminated PTX (`format=isa`), JIT-compiled at `optLevel`.
R2Q_CUDA_EXPORT void *mgpuModuleLoadJIT(void *data, int optLevel);
R2Q_CUDA_EXPORT void mgpuModuleUnload(void *module);
R2Q_CUDA_EXPORT void *mgpuModuleGetFunction(void *module, const char *name);
R2Q_CUDA_EXPORT void mgpuLaunchKernel(void *function, intptr_t gridX,
                                      intptr_t gridY, intptr_t gridZ,
                                      intptr_t blockX, intptr_t blockY,
                                      intptr_t blockZ, int32_t smem,
                                      void *stream, void **params, void **extra,
                                      size_t paramsCount);
R2Q_CUDA_EXPORT void
mgpuLaunchClusterKernel(void *function, intptr_t clusterX, intptr_t clusterY,
                        intptr_t clusterZ, intptr_t gridX, intptr_t gridY,
                        intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                        intptr_t blockZ, int32_t smem, void *stream,
                        void **params, void **extra, size_t paramsCount);
/// A stream of the runtime's, non-blocking: one that lowered code
/// destroyed before (mgpuStreamDestroy keeps them for the next call on
/// their device), else a new one; the caller's stream inside
/// r2qCudaBeginCallStream.
R2Q_CUDA_EXPORT void *mgpuStreamCreate(void);
R2Q_CUDA_EXPORT void mgpuStreamDestroy(void *stream);
R2Q_CUDA_EXPORT void mgpuStreamSynchronize(void *stream);
R2Q_CUDA_EXPORT void mgpuStreamWaitEvent(void *stream, void *event);
R2Q_CUDA_EXPORT void *mgpuEventCreate(void);
R2Q_CUDA_EXPORT void mgpuEventDestroy(void *event);
R2Q_CUDA_EXPORT void mgpuEventSynchronize(void *event);
R2Q_CUDA_EXPORT void mgpuEventRecord(void *event, void *stream);
/// `isHostShared`: managed memory that the host can also read and write;
/// otherwise device memory from the device's memory pool, taken on
/// `stream` (mgpuMemFree gives it back on its stream; r2qCudaFree frees it
/// after the device's work). R2Q_CUDA_MEMORY_POOL=0 makes it cuMemAlloc's.
R2Q_CUDA_EXPORT void *mgpuMemAlloc(uint64_t bytes, void *stream,
                                   bool isHostShared);
R2Q_CUDA_EXPORT void mgpuMemFree(void *ptr, void *stream);
R2Q_CUDA_EXPORT void mgpuMemcpy(void *dst, void *src, size_t bytes,
                                void *stream);
R2Q_CUDA_EXPORT void mgpuMemset32(void *dst, unsigned int value, size_t count,
                                  void *stream);
R2Q_CUDA_EXPORT void mgpuMemset16(void *dst, unsigned short value, size_t count,
                                  void *stream);
R2Q_CUDA_EXPORT void mgpuMemHostRegister(void *ptr, uint64_t bytes);
R2Q_CUDA_EXPORT void mgpuMemHostUnregister(void *ptr);
/// `descriptor` points to a ranked memref descriptor of rank `rank`; the
/// memref must be dense (row-major, no gaps).
R2Q_CUDA_EXPORT void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                                               int64_t elementSizeBytes);
R2Q_CUDA_EXPORT void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                                 int64_t elementSizeBytes);
R2Q_CUDA_EXPORT void mgpuSetDefaultDevice(int32_t device);
/// A TMA descriptor (CUtensorMap) for the memref `descriptor` of rank
/// `rank` (1-5), tiled by `boxDims` (outermost first), copied to device
/// memory; returns its device address. The enum arguments are the driver's
/// CUtensorMap* values.
R2Q_CUDA_EXPORT void *mgpuTensorMapEncodeTiledMemref(
    int64_t rank, void *descriptor, int64_t dataType, int64_t interleave,
    int64_t swizzle, int64_t l2Promotion, int64_t oobFill, int64_t *boxDims);

/// The copy, on the thread's default device, of a constant of lowered code
/// (a weight folded at compile time, in host memory), made once per module
/// and device: `slot` is the module's pointer-sized global for that
/// constant, null at first; the first call on a device copies the `bytes`
/// at `host` into its memory (managed memory where `managed` is nonzero:
/// host code reads it too), later ones return that copy without a lock.
/// Devices 0-63. Thread-safe. r2q-gpu-host-buffers emits the calls; they
/// abort on a CUDA error, as the mgpu* entry points do (in a failed error
/// scope the call returns `host`).
R2Q_CUDA_EXPORT void *r2qCudaDeviceConstant(void **slot, const void *host,
                                            uint64_t bytes, int32_t managed);
/// Fails, as the mgpu* entry points do, when `address` (where a buffer that
/// a kernel reads with wide accesses starts) is not a multiple of
/// `alignment`; the message names the buffer by `description`.
/// r2q-gpu-check-alignment emits the calls before each launch, so that a
/// caller's misaligned argument is an error, not a kernel's fault.
R2Q_CUDA_EXPORT void r2qCudaCheckAlignment(uint64_t address, uint64_t alignment,
                                           const char *description);
/// Frees the copies in `slot` (each in its device's context) and clears it:
/// the module's global destructor calls it for each of its constants.
R2Q_CUDA_EXPORT void r2qCudaReleaseDeviceConstant(void **slot);

#ifdef __cplusplus
} // extern "C"

namespace r2q::cuda {

/// The outcome of a call: empty `error` on success.
struct Status {
  std::string error;
  bool ok() const { return error.empty(); }
};

inline Status statusOf(int result) {
  return Status{result == 0 ? std::string() : r2qCudaLastError()};
}

/// A value, or the error that prevented it.
template <typename T> struct Result : Status {
  T value{};
};

template <typename T> Result<T> resultOf(int result, T value) {
  Result<T> out;
  out.error = statusOf(result).error;
  out.value = value;
  return out;
}

/// An error scope (r2qCudaBeginErrorScope) for the lifetime of the object,
/// or until end(), which returns its outcome.
class LoweredCodeErrors {
public:
  LoweredCodeErrors() { r2qCudaBeginErrorScope(); }
  ~LoweredCodeErrors() {
    if (open)
      r2qCudaEndErrorScope();
  }
  LoweredCodeErrors(const LoweredCodeErrors &) = delete;
  LoweredCodeErrors &operator=(const LoweredCodeErrors &) = delete;

  /// The first failure of the lowered code called since construction.
  Status end() {
    open = false;
    return statusOf(r2qCudaEndErrorScope());
  }

private:
  bool open = true;
};

/// Empty when a GPU can be used, else the reason (a clear one-line message).
inline std::string unavailableReason() {
  const char *reason = r2qCudaUnavailableReason();
  return reason ? reason : "";
}
inline bool gpuAvailable() { return r2qCudaUnavailableReason() == nullptr; }

inline Result<int> deviceCount() {
  int count = 0;
  int result = r2qCudaDeviceCount(&count);
  return resultOf(result, count);
}

inline Result<R2QCudaDeviceInfo> deviceInfo(int ordinal) {
  R2QCudaDeviceInfo info{};
  int result = r2qCudaDeviceInfo(ordinal, &info);
  return resultOf(result, info);
}

inline Result<void *> allocate(size_t bytes) {
  void *ptr = nullptr;
  int result = r2qCudaMalloc(&ptr, bytes);
  return resultOf(result, ptr);
}
inline Status free(void *devicePtr) { return statusOf(r2qCudaFree(devicePtr)); }
inline Status copyToDevice(void *dst, const void *src, size_t bytes) {
  return statusOf(r2qCudaCopyToDevice(dst, src, bytes));
}
inline Status copyToHost(void *dst, const void *src, size_t bytes) {
  return statusOf(r2qCudaCopyToHost(dst, src, bytes));
}
inline Status copyDeviceToDevice(void *dst, const void *src, size_t bytes,
                                 void *stream = nullptr) {
  return statusOf(r2qCudaCopyDeviceToDevice(dst, src, bytes, stream));
}
inline Status synchronize() { return statusOf(r2qCudaSynchronize()); }

inline Result<void *> createTimingEvent() {
  void *event = nullptr;
  int result = r2qCudaTimingEventCreate(&event);
  return resultOf(result, event);
}
inline Status destroyEvent(void *event) {
  return statusOf(r2qCudaEventDestroy(event));
}
inline Status recordEvent(void *event, void *stream = nullptr) {
  return statusOf(r2qCudaEventRecord(event, stream));
}
inline Result<float> elapsedMilliseconds(void *start, void *end) {
  float ms = 0;
  int result = r2qCudaEventElapsedMs(&ms, start, end);
  return resultOf(result, ms);
}

inline Result<void *> loadModule(const void *data, size_t bytes,
                                 int optLevel = 4) {
  void *module = nullptr;
  int result = r2qCudaModuleLoad(&module, data, bytes, optLevel);
  return resultOf(result, module);
}
inline Result<void *> getFunction(void *module, const char *name) {
  void *function = nullptr;
  int result = r2qCudaModuleGetFunction(&function, module, name);
  return resultOf(result, function);
}

} // namespace r2q::cuda
#endif // __cplusplus

#endif // R2Q_RUNTIME_CUDARUNTIME_H
