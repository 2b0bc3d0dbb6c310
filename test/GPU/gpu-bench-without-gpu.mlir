// r2q-gpu-bench (the GPU kernels compiled ahead of time by r2q-gpu-pipeline)
// where no GPU can be used: the kernels' module constructors would abort,
// so the harness exits first, with the runtime's reason and status 77.

// REQUIRES: gpu-bench
// RUN: env R2Q_CUDA_DRIVER=%t.missing/libcuda.so.1 r2q-gpu-bench check > %t.out; \
// RUN:   test $? -eq 77
// RUN: FileCheck %s < %t.out

// CHECK: r2q: no NVIDIA GPU: {{.*}}.missing/libcuda.so.1 not found
