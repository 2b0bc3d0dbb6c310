// r2q-gpu-sink-constants: every constant a gpu.launch body uses, of any
// type, is cloned into the body, so that outlining makes none of them a
// kernel parameter; values computed on the host stay arguments.

// RUN: r2q-opt %s --r2q-gpu-sink-constants --gpu-kernel-outlining | FileCheck %s

// CHECK-LABEL: gpu.func @sink_kernel
// CHECK-SAME: (%{{.*}}: index, %{{.*}}: memref<4xi32>)
// CHECK-DAG: arith.constant dense<[31, 30, 29, 28]> : vector<4xi32>
// CHECK-DAG: arith.constant 0.000000e+00 : f32
func.func @sink(%n: index, %out: memref<4xi32>) {
  %c1 = arith.constant 1 : index
  %c0 = arith.constant 0 : index
  %shifts = arith.constant dense<[31, 30, 29, 28]> : vector<4xi32>
  %zero = arith.constant 0.0 : f32
  %host = arith.addi %n, %c1 : index
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1)
             threads(%t0, %t1, %t2) in (%s0 = %c1, %s1 = %c1, %s2 = %c1) {
    %v = vector.broadcast %zero : f32 to vector<4xf32>
    %i = vector.bitcast %v : vector<4xf32> to vector<4xi32>
    %s = arith.shli %i, %shifts : vector<4xi32>
    %idx = arith.addi %t0, %host : index
    vector.store %s, %out[%idx] : memref<4xi32>, vector<4xi32>
    gpu.terminator
  }
  return
}
