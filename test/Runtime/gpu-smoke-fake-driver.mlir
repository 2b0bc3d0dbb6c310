// r2q-gpu-smoke end to end on the fake driver of
// unittests/Runtime/FakeCudaDriver.cpp (host memory, r2q_vadd run on the
// host): every check the program makes on a GPU, so that its first run on
// a GPU machine tests the GPU and not the program.

// REQUIRES: cuda-runtime
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda r2q-gpu-smoke | FileCheck %s

// CHECK: r2q-gpu-smoke: r2q fake GPU, sm_90, 132 SMs
// CHECK: r2q-gpu-smoke: seed
// CHECK-NOT: FAILED
// CHECK: ok: r2q_vadd from mgpuModuleLoadJIT
// CHECK: ok: r2q_vadd_shared with 163840 bytes of dynamic shared memory
// CHECK: ok: r2q_vadd from PTX through mgpuModuleLoad(data, size)
// CHECK: ok: mgpuStreamCreate hands out a stream of the caller's
// CHECK: ok: r2q_vadd with pool buffers, all on a stream of the caller's
// CHECK: ok: mgpuStreamCreate hands out the legacy default stream
// CHECK: ok: r2q_vadd with pool buffers, all on the legacy default stream
// CHECK: ok: mgpuStreamCreate hands out the stream destroyed before
// CHECK: ok: a missing kernel is reported by name
// CHECK: device-to-device copy:
// CHECK: ok: r2q_vadd through mgpuLaunchClusterKernel
// CHECK: ok: mgpuTensorMapEncodeTiledMemref
// CHECK: r2q-gpu-smoke: 30 passed, 0 failed
