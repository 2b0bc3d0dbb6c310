//===- CudaRuntimeTest.cpp - libr2q_cuda_runtime.so without a GPU ---------===//
//
// Loads the built library with dlopen, as mlir-runner and lowered code do,
// and checks what it promises on any machine: every entry point is exported
// with the signature of CudaRuntime.h, and a missing driver, a library that
// is not a driver, or the toolkit's stub libcuda gives one clear reason,
// returned by the harness API and printed before an abort by the mgpu*
// entry points (returned by an error scope's end instead, inside one). The
// whole binary points R2Q_CUDA_DRIVER at a path that does not exist, so it
// behaves the same on a GPU machine; the tests of other drivers run in fresh
// processes (threadsafe death tests).
//
//===----------------------------------------------------------------------===//

#include "r2q/Runtime/CudaRuntime.h"
#include "DriverOverride.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <dlfcn.h>
#include <string>

namespace {

const char *const kMissingDriver = "/nonexistent/r2q-test/libcuda.so.1";

// Before any test runs (and in every re-executed death-test child).
const bool driverOverridden = r2q::test::overrideDriver(kMissingDriver);

void *runtime() {
  static void *handle = dlopen(R2Q_CUDA_RUNTIME_PATH, RTLD_NOW | RTLD_LOCAL);
  return handle;
}

/// The library's definition of `name`, typed like the header's declaration.
template <typename Function> Function *entry(Function *, const char *name) {
  return reinterpret_cast<Function *>(dlsym(runtime(), name));
}
#define R2Q_ENTRY(name) entry(&::name, #name)

std::string unavailableReason() {
  const char *reason = R2Q_ENTRY(r2qCudaUnavailableReason)();
  return reason ? reason : "";
}

TEST(CudaRuntime, LoadsWithoutDriverOrGpu) {
  ASSERT_TRUE(driverOverridden);
  ASSERT_NE(runtime(), nullptr) << dlerror();
}

// The entry points that MLIR 22's gpu-to-llvm, #gpu.select_object and
// convert-nvgpu-to-nvvm call (test/Runtime/cuda-runtime-entry-points.mlir
// checks them against the lowering itself), and the harness API.
TEST(CudaRuntime, ExportsEveryEntryPoint) {
  ASSERT_NE(runtime(), nullptr) << dlerror();
  const char *names[] = {"mgpuModuleLoad",
                         "mgpuModuleLoadJIT",
                         "mgpuModuleUnload",
                         "mgpuModuleGetFunction",
                         "mgpuLaunchKernel",
                         "mgpuLaunchClusterKernel",
                         "mgpuStreamCreate",
                         "mgpuStreamDestroy",
                         "mgpuStreamSynchronize",
                         "mgpuStreamWaitEvent",
                         "mgpuEventCreate",
                         "mgpuEventDestroy",
                         "mgpuEventSynchronize",
                         "mgpuEventRecord",
                         "mgpuMemAlloc",
                         "mgpuMemFree",
                         "mgpuMemcpy",
                         "mgpuMemset32",
                         "mgpuMemset16",
                         "mgpuMemHostRegister",
                         "mgpuMemHostUnregister",
                         "mgpuMemHostRegisterMemRef",
                         "mgpuMemHostUnregisterMemRef",
                         "mgpuSetDefaultDevice",
                         "mgpuTensorMapEncodeTiledMemref",
                         "r2qCudaDeviceConstant",
                         "r2qCudaReleaseDeviceConstant",
                         "r2qCudaLastError",
                         "r2qCudaBeginErrorScope",
                         "r2qCudaEndErrorScope",
                         "r2qCudaDriverPath",
                         "r2qCudaUnavailableReason",
                         "r2qCudaDeviceCount",
                         "r2qCudaDeviceInfo",
                         "r2qCudaSetDevice",
                         "r2qCudaMalloc",
                         "r2qCudaFree",
                         "r2qCudaFreeOnStream",
                         "r2qCudaCopyToDevice",
                         "r2qCudaCopyToHost",
                         "r2qCudaCopyDeviceToDevice",
                         "r2qCudaSynchronize",
                         "r2qCudaPointerDevice",
                         "r2qCudaStreamCreate",
                         "r2qCudaStreamDestroy",
                         "r2qCudaStreamSynchronize",
                         "r2qCudaBeginCallStream",
                         "r2qCudaEndCallStream",
                         "r2qCudaTrimMemoryPools",
                         "r2qCudaTimingEventCreate",
                         "r2qCudaEventDestroy",
                         "r2qCudaEventRecord",
                         "r2qCudaEventElapsedMs",
                         "r2qCudaModuleLoad",
                         "r2qCudaModuleUnload",
                         "r2qCudaModuleGetFunction",
                         "r2qCudaLaunch"};
  for (const char *name : names)
    EXPECT_NE(dlsym(runtime(), name), nullptr) << name << " is not exported";
#ifdef R2Q_CUDA_RUNTIME_STATIC_LIBSTDCXX
  // The statically linked libstdc++ stays inside.
  EXPECT_EQ(dlsym(runtime(), "_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcE"
                             "SaIcEE9_M_createERmm"),
            nullptr);
#endif
}

TEST(CudaRuntime, MissingDriverGivesOneClearReason) {
  EXPECT_STREQ(R2Q_ENTRY(r2qCudaDriverPath)(), kMissingDriver);
  std::string reason = unavailableReason();
  EXPECT_EQ(reason.rfind(std::string("r2q: no NVIDIA GPU: ") + kMissingDriver +
                             " not found (",
                         0),
            0u)
      << reason;
  EXPECT_NE(reason.find("R2Q_CUDA_DRIVER may name the driver's path"),
            std::string::npos)
      << reason;
}

// Every harness call fails with that reason, leaves its outputs empty and
// returns: no abort, no crash.
TEST(CudaRuntime, HarnessCallsReturnTheReason) {
  std::string reason = unavailableReason();
  ASSERT_FALSE(reason.empty());
  auto lastError = [] { return std::string(R2Q_ENTRY(r2qCudaLastError)()); };

  int count = -1;
  EXPECT_EQ(R2Q_ENTRY(r2qCudaDeviceCount)(&count), -1);
  EXPECT_EQ(count, 0);
  EXPECT_EQ(lastError(), reason);

  R2QCudaDeviceInfo info;
  info.multiprocessorCount = 7;
  EXPECT_EQ(R2Q_ENTRY(r2qCudaDeviceInfo)(0, &info), -1);
  EXPECT_EQ(info.multiprocessorCount, 0);
  EXPECT_EQ(lastError(), reason);

  void *ptr = &count;
  EXPECT_EQ(R2Q_ENTRY(r2qCudaMalloc)(&ptr, 4096), -1);
  EXPECT_EQ(ptr, nullptr);
  EXPECT_EQ(lastError(), reason);

  void *module = &count;
  const char ptx[] = ".version 7.8\n.target sm_80\n.address_size 64\n";
  EXPECT_EQ(R2Q_ENTRY(r2qCudaModuleLoad)(&module, ptx, sizeof(ptx), 3), -1);
  EXPECT_EQ(module, nullptr);
  EXPECT_EQ(lastError(), reason);

  void *event = &count;
  EXPECT_EQ(R2Q_ENTRY(r2qCudaTimingEventCreate)(&event), -1);
  EXPECT_EQ(event, nullptr);
  EXPECT_EQ(R2Q_ENTRY(r2qCudaSetDevice)(0), -1);
  EXPECT_EQ(lastError(), reason);
}

// mgpu* entry points cannot return errors into lowered code: they print the
// reason and which entry point gave up, then abort.
TEST(CudaRuntimeDeathTest, EntryPointsAbortWithTheReason) {
  std::string expected = std::string("r2q: no NVIDIA GPU: ") + kMissingDriver +
                         " not found.*\nr2q: mgpuStreamCreate cannot return "
                         "an error to the lowered code; aborting";
  EXPECT_DEATH(R2Q_ENTRY(mgpuStreamCreate)(), expected);
  char cubin[] = "\x7f"
                 "ELF";
  EXPECT_DEATH(R2Q_ENTRY(mgpuModuleLoad)(cubin, 4),
               "no NVIDIA GPU.*\nr2q: mgpuModuleLoad cannot return");
  EXPECT_DEATH(R2Q_ENTRY(mgpuMemAlloc)(256, nullptr, false),
               "no NVIDIA GPU.*\nr2q: mgpuMemAlloc cannot return");
  EXPECT_DEATH(R2Q_ENTRY(mgpuSetDefaultDevice)(1),
               "no NVIDIA GPU.*\nr2q: mgpuSetDefaultDevice cannot return");
}

// Inside an error scope the same calls return, and the scope's end gives the
// reason: a module constructor run by a caller that can report errors.
TEST(CudaRuntime, ErrorScopeReturnsTheReason) {
  R2Q_ENTRY(r2qCudaBeginErrorScope)();
  char cubin[] = "\x7f"
                 "ELF";
  void *module = R2Q_ENTRY(mgpuModuleLoad)(cubin, 4);
  EXPECT_EQ(module, nullptr);
  EXPECT_EQ(R2Q_ENTRY(mgpuModuleGetFunction)(module, "main_kernel"), nullptr);
  void *managed = R2Q_ENTRY(mgpuMemAlloc)(256, nullptr, true);
  ASSERT_NE(managed, nullptr) << "host memory in place of managed memory";
  static_cast<char *>(managed)[255] = 1;
  R2Q_ENTRY(mgpuMemFree)(managed, nullptr);
  R2Q_ENTRY(mgpuModuleUnload)(module);
  EXPECT_EQ(R2Q_ENTRY(r2qCudaEndErrorScope)(), -1);
  EXPECT_EQ(R2Q_ENTRY(r2qCudaLastError)(), unavailableReason());
}

TEST(CudaRuntime, EmptyAllocationsNeedNoDriver) {
  // As upstream: zero bytes give a null pointer, and freeing null is a no-op.
  EXPECT_EQ(R2Q_ENTRY(mgpuMemAlloc)(0, nullptr, false), nullptr);
  R2Q_ENTRY(mgpuMemFree)(nullptr, nullptr);
}

/// A rank-2 memref descriptor as lowered code passes it.
struct MemRef2D {
  void *allocated;
  void *aligned;
  int64_t offset, sizes[2], strides[2];
};

TEST(CudaRuntimeDeathTest, HostRegistrationReadsTheMemRefDescriptor) {
  float data[6 * 8];
  // A 5x7 window with row stride 8 is not dense: refused before the driver
  // is asked, naming the dimension.
  MemRef2D strided{data, data, 3, {5, 7}, {8, 1}};
  EXPECT_DEATH(R2Q_ENTRY(mgpuMemHostRegisterMemRef)(2, &strided, 4),
               "dimension 0 has stride 8, expected 7");
  // A dense one reaches the driver.
  MemRef2D dense{data, data, 0, {6, 8}, {8, 1}};
  EXPECT_DEATH(R2Q_ENTRY(mgpuMemHostRegisterMemRef)(2, &dense, 4),
               "no NVIDIA GPU.*\nr2q: mgpuMemHostRegisterMemRef cannot");
  // An empty one spans no bytes: nothing to register.
  MemRef2D empty{data, data, 0, {6, 0}, {0, 1}};
  R2Q_ENTRY(mgpuMemHostRegisterMemRef)(2, &empty, 4);
  R2Q_ENTRY(mgpuMemHostUnregisterMemRef)(2, &empty, 4);
}

TEST(CudaRuntimeDeathTest, TensorMapsOfUnsupportedRankAreRefused) {
  float data[4];
  MemRef2D memref{data, data, 0, {2, 2}, {2, 1}};
  int64_t box[2] = {2, 2};
  EXPECT_DEATH(
      R2Q_ENTRY(mgpuTensorMapEncodeTiledMemref)(6, &memref, 7, 0, 0, 0, 0, box),
      "TMA descriptor of rank 6");
  EXPECT_DEATH(R2Q_ENTRY(mgpuTensorMapEncodeTiledMemref)(2, &memref, 13, 0, 0,
                                                         0, 0, box),
               "CUtensorMapDataType 13");
}

/// In a fresh process (threadsafe death tests re-execute the binary): loads
/// `driver` and exits with the reason on stderr.
[[noreturn]] void printReasonFor(const char *driver) {
  setenv("R2Q_CUDA_DRIVER", driver, 1);
  std::fprintf(stderr, "%s\n", unavailableReason().c_str());
  std::exit(0);
}

TEST(CudaRuntimeDeathTest, LibraryThatIsNotADriver) {
  EXPECT_EXIT(printReasonFor("libm.so.6"), testing::ExitedWithCode(0),
              "^r2q: no NVIDIA GPU: the CUDA driver libm.so.6 lacks cuInit ");
}

// The toolkit's stub has every entry point the runtime resolves (so their
// versioned names are right for the CUDA 13 headers) and cuInit refuses.
TEST(CudaRuntimeDeathTest, StubDriverIsRecognized) {
#ifdef R2Q_CUDA_STUB_DRIVER
  EXPECT_EXIT(printReasonFor(R2Q_CUDA_STUB_DRIVER), testing::ExitedWithCode(0),
              "^r2q: no NVIDIA GPU: .*stubs/libcuda.so is the CUDA toolkit's "
              "stub library, not a driver\n");
#else
  GTEST_SKIP() << "no stub libcuda.so beside the CUDA headers";
#endif
}

} // namespace
