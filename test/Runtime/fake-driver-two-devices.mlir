// The runtime's constant copies on a fake driver with two devices: each
// device gets its own copy, made and freed in its own context; and a pool's
// buffer freed from another device's thread is freed in its own; a stream
// that lowered code gave back is handed out again on its own device only;
// a caller's stream of another device is refused, and one begun on device
// 0 is not used once lowered code switches to device 1; each device's pool
// is trimmed after waiting for that device
// (unittests/Runtime/CudaRuntimeFakeDriverTest.cpp; with one device, as in
// the unit tests' own run, the test skips).

// REQUIRES: cuda-runtime
// RUN: env R2Q_FAKE_CUDA_DEVICES=2 %r2q_fake_driver_tests \
// RUN:   --gtest_filter='CudaRuntimeOnFakeDriver.*Constant*:CudaRuntimeOnFakeDriver.*OnItsDevice:CudaRuntimeOnFakeDriver.ReusesItsStreams:CudaRuntimeOnFakeDriver.RefusesStreamsItCannotRunOn:CudaRuntimeOnFakeDriver.TrimsThePoolsOnRequest' | FileCheck %s

// CHECK: [ RUN      ] CudaRuntimeOnFakeDriver.FreesAPoolsBufferOnItsDevice
// CHECK: [       OK ] CudaRuntimeOnFakeDriver.FreesAPoolsBufferOnItsDevice
// CHECK: [ RUN      ] CudaRuntimeOnFakeDriver.ReusesItsStreams
// CHECK: [       OK ] CudaRuntimeOnFakeDriver.ReusesItsStreams
// CHECK: [ RUN      ] CudaRuntimeOnFakeDriver.RefusesStreamsItCannotRunOn
// CHECK: [       OK ] CudaRuntimeOnFakeDriver.RefusesStreamsItCannotRunOn
// CHECK: [ RUN      ] CudaRuntimeOnFakeDriver.TrimsThePoolsOnRequest
// CHECK: [       OK ] CudaRuntimeOnFakeDriver.TrimsThePoolsOnRequest
// CHECK: [ RUN      ] CudaRuntimeOnFakeDriver.CopiesEachConstantToTheDeviceOnce
// CHECK: [       OK ] CudaRuntimeOnFakeDriver.CopiesEachConstantToTheDeviceOnce
// CHECK: [ RUN      ] CudaRuntimeOnFakeDriver.CopiesAConstantToEachDevice
// CHECK: [       OK ] CudaRuntimeOnFakeDriver.CopiesAConstantToEachDevice
// CHECK: [  PASSED  ] 6 tests.
