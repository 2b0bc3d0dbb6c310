//===- FakeCudaDriver.h - Hooks of the fake CUDA driver ---------*- C++ -*-===//
//
// What libr2q_fake_cuda.so (FakeCudaDriver.cpp) lets tests see and change.
//
//===----------------------------------------------------------------------===//

#ifndef R2Q_UNITTESTS_RUNTIME_FAKECUDADRIVER_H
#define R2Q_UNITTESTS_RUNTIME_FAKECUDADRIVER_H

#include <cstddef>
#include <cstdint>

namespace r2q::test {

/// The arguments of the last cuTensorMapEncodeTiled call.
struct FakeTensorMapCall {
  int dataType = -1;
  unsigned rank = 0;
  void *address = nullptr;
  uint64_t dims[5] = {}, strides[5] = {};
  uint32_t box[5] = {};
  int swizzle = -1;
};

} // namespace r2q::test

extern "C" {
/// Contexts pushed on the calling thread right now.
int fakeCudaContextDepth();
/// From now on the driver reports CUDA_ERROR_DEINITIALIZED, as at exit.
void fakeCudaShutDown();
/// Loses the context (`lost`), as a kernel's fault does on a GPU: every
/// later call that needs it fails with CUDA_ERROR_ILLEGAL_ADDRESS, and with
/// `pushesFail` so does cuCtxPushCurrent (which a real driver may or may
/// not refuse then); or gives it back (no GPU does that: the tests that
/// lose it end so). $R2Q_FAKE_CUDA_FAULT_AT loses it, pushes still
/// working, at the lookup of a kernel whose name contains its value.
void fakeCudaLoseContext(bool lost, bool pushesFail);
/// CU_JIT_OPTIMIZATION_LEVEL of the last module load (-1: never given).
int fakeCudaLastJitOptLevel();
const char *fakeCudaLastKernel();
/// The cluster width of the last launch (0: launched without clusters).
unsigned fakeCudaLastClusterX();
/// Device and managed allocations not yet freed.
long fakeCudaLiveAllocations();
/// The device whose context made the live allocation at `ptr`, or -1.
/// (The fake has $R2Q_FAKE_CUDA_DEVICES devices, 1 by default; cuMemFree
/// fails outside the context that made the allocation.)
int fakeCudaAllocationDevice(const void *ptr);
/// Bytes copied by cuMemcpyHtoD so far.
uint64_t fakeCudaBytesCopiedToDevice();
/// cuCtxSynchronize calls so far.
long fakeCudaContextSynchronizations();
/// Kernels run so far (launches that reached a kernel).
long fakeCudaLaunches();
/// cuFuncSetAttribute calls for
/// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
long fakeCudaSharedMemoryOptIns();
/// From now on cuMemAlloc and cuMemAllocManaged fail with
/// CUDA_ERROR_OUT_OF_MEMORY for more than `bytes` (0: never). The limit
/// starts at $R2Q_FAKE_CUDA_LARGEST_ALLOCATION (none where it is unset).
void fakeCudaFailAllocationsAbove(uint64_t bytes);
/// cuStreamSynchronize calls so far on all streams.
long fakeCudaAllStreamSynchronizations();
/// Allocations from memory pools (cuMemAllocFromPoolAsync) so far; the
/// fake's device supports pools.
long fakeCudaPoolAllocations();
/// cuMemPoolTrimTo calls so far.
long fakeCudaPoolTrims();
/// From now on every allocation fails with CUDA_ERROR_OUT_OF_MEMORY until
/// a memory pool is trimmed.
void fakeCudaFailAllocationsUntilTrim();
/// cuMemFreeAsync calls so far (the fake accepts only a pool's memory), and
/// cuMemFree calls.
long fakeCudaStreamOrderedFrees();
long fakeCudaMemFrees();
/// cuStreamCreate and cuStreamDestroy calls so far.
long fakeCudaStreamsCreated();
long fakeCudaStreamsDestroyed();
/// The stream handle of the last launch (cuLaunchKernel or
/// cuLaunchKernelEx), whether or not it reached a kernel.
uintptr_t fakeCudaLastLaunchStream();
/// The stream of the last cuMemAllocFromPoolAsync or cuMemFreeAsync. Both
/// fail with CUDA_ERROR_INVALID_HANDLE on a stream that is neither a live
/// one of cuStreamCreate's nor a default stream; cuStreamGetCtx fails so
/// on any other handle too.
uintptr_t fakeCudaLastPoolStream();
/// Makes cuStreamIsCapturing report `stream` as capturing a graph (or not).
void fakeCudaSetCapturing(uintptr_t stream, int capturing);
/// CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS from now on (1 at first).
void fakeCudaSetConcurrentManagedAccess(int value);
/// 1 if `ptr` is in the first 256 bytes of a pool's live allocation whose
/// release threshold keeps all memory, 0 if its pool's does not, -1 if it
/// is in none.
int fakeCudaPoolKeepsAll(const void *ptr);
/// cuStreamSynchronize calls so far on the stream handle `stream`.
long fakeCudaStreamSynchronizations(uintptr_t stream);
const r2q::test::FakeTensorMapCall *fakeCudaLastTensorMap();
/// The pointer and size of the last cuMemHostRegister.
void *fakeCudaLastRegistered(size_t *bytes);
}

#endif // R2Q_UNITTESTS_RUNTIME_FAKECUDADRIVER_H
