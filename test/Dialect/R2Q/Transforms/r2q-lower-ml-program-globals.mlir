// RUN: r2q-opt %s --split-input-file --verify-diagnostics --r2q-lower-ml-program-globals | FileCheck %s

// CHECK: memref.global "private" constant @w : memref<4x16xf32> = dense<5.000000e-01>
// CHECK: memref.global "private" @m : memref<4x16xf32> = dense<2.500000e-01>
// CHECK-LABEL: func.func @loads_and_store
// A constant global is read in place, read-only.
// CHECK: %[[W:.*]] = memref.get_global @w : memref<4x16xf32>
// CHECK: bufferization.to_tensor %[[W]] restrict : memref<4x16xf32>
// A mutable one is copied when loaded, so a later store cannot change it.
// CHECK: %[[M:.*]] = memref.get_global @m : memref<4x16xf32>
// CHECK: %[[COPY:.*]] = memref.alloc() : memref<4x16xf32>
// CHECK: memref.copy %[[M]], %[[COPY]]
// CHECK: bufferization.to_tensor %[[COPY]] restrict writable
// CHECK: %[[DEST:.*]] = memref.get_global @m : memref<4x16xf32>
// CHECK: bufferization.materialize_in_destination %{{.*}} in writable %[[DEST]]
// CHECK-NOT: ml_program
ml_program.global private @w(dense<0.5> : tensor<4x16xf32>) : tensor<4x16xf32>
ml_program.global private mutable @m(dense<0.25> : tensor<4x16xf32>) : tensor<4x16xf32>
func.func @loads_and_store() -> (tensor<4x16xf32>, tensor<4x16xf32>) {
  %w = ml_program.global_load_const @w : tensor<4x16xf32>
  %m = ml_program.global_load @m : tensor<4x16xf32>
  ml_program.global_store @m = %w : tensor<4x16xf32>
  return %w, %m : tensor<4x16xf32>, tensor<4x16xf32>
}

// -----

// expected-error @+1 {{r2q-cpu-pipeline compiles ml_program globals of static tensor type with an initial value only}}
ml_program.global private mutable @uninitialized : tensor<4x16xf32>
