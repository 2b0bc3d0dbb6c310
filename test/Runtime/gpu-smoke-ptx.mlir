// The PTX that r2q-gpu-smoke JIT-compiles on a GPU is accepted by ptxas for
// the chips r2q targets.

// REQUIRES: cuda-runtime, ptxas
// RUN: r2q-gpu-smoke --print-ptx > %t.ptx
// RUN: %ptxas -arch=sm_80 %t.ptx -o %t.sm_80.cubin
// RUN: %ptxas -arch=sm_90 %t.ptx -o %t.sm_90.cubin
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.sm_90a.cubin
// RUN: FileCheck %s < %t.ptx

// CHECK: .visible .entry r2q_vadd(
// CHECK: .visible .entry r2q_vadd_shared(
