// r2q-gpu-bench on the fake CUDA driver, which loads the kernels' fatbin
// without kernels: each case's call meets a CUDA error (its first kernel's
// lookup fails) inside the runtime's error scope, so the harness reports it
// on that case's line and goes on to the next case, instead of aborting at
// the first; it exits with status 1. A constant weight's case (check_k1)
// copies its weight before the lookup; the copy is freed at exit.

// REQUIRES: gpu-bench
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda r2q-gpu-bench check check_k1 check_p \
// RUN:   > %t.out; test $? -eq 1
// RUN: FileCheck %s < %t.out

// CHECK: device: r2q fake GPU (sm_90, 132 SMs)
// CHECK: check check_p         mma_gemm {{.*}} ERROR: r2q: CUDA error: cuModuleGetFunction for kernel 'check_p_kernel': CUDA_ERROR_NOT_FOUND (named symbol not found)
// CHECK: check check_p_xor     warp_gemv {{.*}} ERROR: {{.*}}'check_p_xor_kernel'
// CHECK: check check_p_lut     warp_lut_gemv {{.*}} ERROR: {{.*}}'check_p_lut_kernel'
// CHECK: check check_p_bytes   byte_lut_gemv {{.*}} ERROR: {{.*}}'check_p_bytes_kernel'
// CHECK: check check_k1        byte_lut_gemv {{.*}} ERROR: {{.*}}'check_k1_kernel'
// CHECK-NEXT: CHECKS FAILED
