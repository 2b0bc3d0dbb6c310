// A kernel's fault loses the GPU context of its process: every later call
// fails. The fake driver loses it at the lookup of the kernels named by
// R2Q_FAKE_CUDA_FAULT_AT. r2q-gpu-bench then says after which case, and
// exits with status 3 (not an abort in the kernels' module destructors,
// whose unloads have nothing left to release); --after that case runs the
// rest; scripts/gpu-check.sh's run_harness does both, so that one faulting
// kernel of a GPU run costs its own case only.

// REQUIRES: gpu-bench
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda R2Q_FAKE_CUDA_FAULT_AT=check_p_lut \
// RUN:   r2q-gpu-bench check check_p > %t.lost; test $? -eq 3
// RUN: FileCheck %s --check-prefix=LOST < %t.lost
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda R2Q_FAKE_CUDA_FAULT_AT=check_p_lut \
// RUN:   r2q-gpu-bench check check_p --after check_p_lut > %t.rest; test $? -eq 1
// RUN: FileCheck %s --check-prefix=REST < %t.rest
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda R2Q_FAKE_CUDA_FAULT_AT=check_p_ \
// RUN:   bash -c 'source %r2q_src_root/scripts/gpu-check.sh && run_harness %r2q_obj_root check check_p' \
// RUN:   > %t.all; test $? -eq 1
// RUN: FileCheck %s --check-prefix=ALL < %t.all
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda not r2q-gpu-bench check --after 2>&1 | FileCheck %s --check-prefix=USAGE
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda not r2q-gpu-bench check --after no_such_case 2>&1 | FileCheck %s --check-prefix=USAGE
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda not r2q-gpu-bench check --after bench_4096x4096_b1 2>&1 | FileCheck %s --check-prefix=USAGE
// RUN: env R2Q_CUDA_DRIVER=%r2q_fake_cuda not r2q-gpu-bench bounds --after check_p 2>&1 | FileCheck %s --check-prefix=USAGE

// LOST: check check_p {{.*}} ERROR: {{.*}}'check_p_kernel': CUDA_ERROR_NOT_FOUND
// LOST: check check_p_xor {{.*}} ERROR: {{.*}}'check_p_xor_kernel': CUDA_ERROR_NOT_FOUND
// LOST: check check_p_lut {{.*}} ERROR: {{.*}}'check_p_lut_kernel': CUDA_ERROR_ILLEGAL_ADDRESS
// LOST-NEXT: r2q-gpu-bench: the GPU context is lost after check_p_lut: {{.*}}; the rest runs with --after check_p_lut
// LOST-NOT: check_p_wgmma

// REST-NOT: check check_p_lut
// REST: check check_p_wgmma {{.*}} ERROR: {{.*}}CUDA_ERROR_NOT_FOUND
// REST: check check_p_bytes {{.*}} ERROR: {{.*}}CUDA_ERROR_NOT_FOUND
// REST-NEXT: CHECKS FAILED

// Every kernel of check_p faults: five processes, one case each (the last
// case's loss needs no sixth).
// ALL: check check_p {{.*}} CUDA_ERROR_ILLEGAL_ADDRESS
// ALL-NEXT: r2q-gpu-bench: the GPU context is lost after check_p: {{.*}}; the rest runs with --after check_p
// ALL-NEXT: gpu-check: again after check_p
// ALL-NEXT: device: r2q fake GPU
// ALL-NEXT: check check_p_xor {{.*}} CUDA_ERROR_ILLEGAL_ADDRESS
// ALL: gpu-check: again after check_p_xor
// ALL: check check_p_lut {{.*}} CUDA_ERROR_ILLEGAL_ADDRESS
// ALL: gpu-check: again after check_p_lut
// ALL-NEXT: device: r2q fake GPU
// ALL-NEXT: check check_p_wgmma {{.*}} CUDA_ERROR_ILLEGAL_ADDRESS
// ALL: gpu-check: again after check_p_wgmma
// ALL-NEXT: device: r2q fake GPU
// ALL-NEXT: check check_p_bytes {{.*}} CUDA_ERROR_ILLEGAL_ADDRESS
// ALL-NEXT: r2q-gpu-bench: the GPU context is lost after check_p_bytes: {{.*}}fails{{$}}
// ALL-NEXT: CHECKS FAILED
// ALL-NOT: {{.}}

// USAGE: usage: r2q-gpu-bench [check|bounds|bench] [NAME...] [--after NAME]
