// r2q-gpu-bench on the fake CUDA driver, which loads the kernels' fatbin
// without kernels: each case's call meets a CUDA error (its first kernel's
// lookup fails) inside the runtime's error scope, so the harness reports it
// on that case's line and goes on to the next case, instead of aborting at
// the first; it exits with status 1. A constant weight's case (check_k1)
// copies its weight before the lookup; the copy is freed at exit. `bounds`
// runs the same cases compiled with check-bounds=true (bounds_*, kernels of
// their own in the harness), and only those; their kernels carry the checks'
// messages.

// REQUIRES: gpu-bench
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda r2q-gpu-bench check check_k1 check_p \
// RUN:   > %t.out; test $? -eq 1
// RUN: FileCheck %s < %t.out
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda r2q-gpu-bench bounds _p > %t.bounds; test $? -eq 1
// RUN: FileCheck %s --check-prefix=BOUNDS < %t.bounds
// RUN: grep -a -c "Runtime op verification failed" r2q-gpu-bench | FileCheck %s --check-prefix=MESSAGES

// CHECK: device: r2q fake GPU (sm_90, 132 SMs)
// CHECK: check check_p         mma_gemm {{.*}} ERROR: r2q: CUDA error: cuModuleGetFunction for kernel 'check_p_kernel': CUDA_ERROR_NOT_FOUND (named symbol not found)
// CHECK: check check_p_xor     warp_gemv {{.*}} ERROR: {{.*}}'check_p_xor_kernel'
// CHECK: check check_p_lut     warp_lut_gemv {{.*}} ERROR: {{.*}}'check_p_lut_kernel'
// CHECK: check check_p_bytes   byte_lut_gemv {{.*}} ERROR: {{.*}}'check_p_bytes_kernel'
// CHECK: check check_k1        byte_lut_gemv {{.*}} ERROR: {{.*}}'check_k1_kernel'
// CHECK-NEXT: CHECKS FAILED

// BOUNDS: device: r2q fake GPU (sm_90, 132 SMs)
// BOUNDS-NEXT: check bounds_p        mma_gemm {{.*}} ERROR: {{.*}}'bounds_p_kernel': CUDA_ERROR_NOT_FOUND
// BOUNDS-NEXT: check bounds_p_xor    warp_gemv {{.*}} ERROR: {{.*}}'bounds_p_xor_kernel'
// BOUNDS-NEXT: check bounds_p_lut    warp_lut_gemv {{.*}} ERROR: {{.*}}'bounds_p_lut_kernel'
// BOUNDS-NEXT: check bounds_p_wgmma  wgmma_gemm {{.*}} ERROR: {{.*}}'bounds_p_wgmma_kernel'
// BOUNDS-NEXT: check bounds_p_bytes  byte_lut_gemv {{.*}} ERROR: {{.*}}'bounds_p_bytes_kernel'
// BOUNDS-NEXT: CHECKS FAILED

// MESSAGES: {{^[1-9][0-9]*$}}
