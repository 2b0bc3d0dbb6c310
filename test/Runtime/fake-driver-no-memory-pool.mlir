// With R2Q_CUDA_MEMORY_POOL=0 the runtime takes the device buffers of
// lowered code from cuMemAlloc, not from the device's memory pool, and
// frees them after their stream's work
// (unittests/Runtime/CudaRuntimeFakeDriverTest.cpp; in the unit tests' own
// run, with the pool, the test skips).

// REQUIRES: cuda-runtime
// RUN: env R2Q_CUDA_MEMORY_POOL=0 %r2q_fake_driver_tests \
// RUN:   --gtest_filter='CudaRuntimeOnFakeDriver.MemoryPoolCanBeSwitchedOff' | FileCheck %s

// CHECK: [ RUN      ] CudaRuntimeOnFakeDriver.MemoryPoolCanBeSwitchedOff
// CHECK-NEXT: [       OK ] CudaRuntimeOnFakeDriver.MemoryPoolCanBeSwitchedOff
// CHECK: [  PASSED  ] 1 test.
