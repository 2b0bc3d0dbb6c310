// r2q-gpu-workgroup-buffers: an alloca in workgroup memory that one
// gpu.launch alone uses becomes a workgroup attribution of that launch;
// allocas elsewhere stay; one used by two launches is an error.

// RUN: r2q-opt %s --split-input-file --r2q-gpu-workgroup-buffers --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @table
// CHECK-NOT: memref.alloca() : memref<64xf32, #gpu.address_space<workgroup>>
// CHECK: %[[HOST:.*]] = memref.alloca() : memref<4xf32>
// CHECK: gpu.launch
// CHECK-SAME: workgroup(%[[TABLE:.*]] : memref<64xf32, #gpu.address_space<workgroup>>)
// CHECK: memref.store %{{.*}}, %[[TABLE]][%{{.*}}] : memref<64xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK: memref.load %[[TABLE]]
func.func @table(%out: memref<64xf32>) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %table = memref.alloca() : memref<64xf32, #gpu.address_space<workgroup>>
  %host = memref.alloca() : memref<4xf32>
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1)
             threads(%t0, %t1, %t2) in (%s0 = %c64, %s1 = %c1, %s2 = %c1) {
    %v = arith.constant 1.0 : f32
    memref.store %v, %table[%t0] : memref<64xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %w = memref.load %table[%t0] : memref<64xf32, #gpu.address_space<workgroup>>
    memref.store %w, %out[%t0] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @shared_by_two(%out: memref<64xf32>) {
  %c1 = arith.constant 1 : index
  // expected-error @below {{'memref.alloca' op in workgroup memory must be used by one gpu.launch only}}
  %table = memref.alloca() : memref<64xf32, #gpu.address_space<workgroup>>
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1)
             threads(%t0, %t1, %t2) in (%s0 = %c1, %s1 = %c1, %s2 = %c1) {
    %w = memref.load %table[%t0] : memref<64xf32, #gpu.address_space<workgroup>>
    memref.store %w, %out[%t0] : memref<64xf32>
    gpu.terminator
  }
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1)
             threads(%t0, %t1, %t2) in (%s0 = %c1, %s1 = %c1, %s2 = %c1) {
    %w = memref.load %table[%t0] : memref<64xf32, #gpu.address_space<workgroup>>
    memref.store %w, %out[%t0] : memref<64xf32>
    gpu.terminator
  }
  return
}
