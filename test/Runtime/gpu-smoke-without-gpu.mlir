// r2q-gpu-smoke where no GPU can be used: one clear reason and exit status
// 77 (skipped), for a missing driver and for a library that is not a
// driver. (On a GPU machine the same binary runs its checks: docs/gpu.md.)

// REQUIRES: cuda-runtime
// RUN: env R2Q_CUDA_DRIVER=%t.missing/libcuda.so.1 r2q-gpu-smoke > %t.out; \
// RUN:   test $? -eq 77
// RUN: FileCheck %s --check-prefix=MISSING < %t.out
// RUN: env R2Q_CUDA_DRIVER=libm.so.6 r2q-gpu-smoke > %t.out; test $? -eq 77
// RUN: FileCheck %s --check-prefix=NOT-A-DRIVER < %t.out

// MISSING: r2q-gpu-smoke: skipped: r2q: no NVIDIA GPU: {{.*}}.missing/libcuda.so.1 not found ({{.*}}); R2Q_CUDA_DRIVER may name the driver's path
// NOT-A-DRIVER: r2q-gpu-smoke: skipped: r2q: no NVIDIA GPU: the CUDA driver libm.so.6 lacks cuInit
