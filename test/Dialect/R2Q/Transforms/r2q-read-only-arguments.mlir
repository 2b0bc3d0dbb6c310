// r2q-read-only-arguments marks the tensor arguments of public functions
// with bodies bufferization.writable = false (the caller's arrays are
// values); other arguments, private functions (called in the module, where
// the bufferization copies at the call) and declarations keep theirs, as do
// arguments the function writes on purpose: marked writable already, or the
// destination of a bufferization.materialize_in_destination (which then
// still writes the caller's buffer). Then One-Shot Bufferize copies an
// argument before writing into it.

// RUN: r2q-opt %s --r2q-read-only-arguments | FileCheck %s
// RUN: r2q-opt %s --r2q-read-only-arguments --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" | FileCheck %s --check-prefix=BUFFERS

// CHECK-LABEL: func.func @entry
// CHECK-SAME: (%{{.*}}: tensor<3x3xf32> {bufferization.writable = false}, %{{.*}}: tensor<3x8xf32> {bufferization.writable = false, r2q.weight}, %{{.*}}: index)
// CHECK-LABEL: func.func @update
// CHECK-SAME: (%{{.*}}: tensor<3x3xf32> {bufferization.writable = false}, %{{.*}}: tensor<3x3xf32>, %{{.*}}: tensor<3x3xf32> {bufferization.writable = true})
// CHECK-LABEL: func.func private @helper
// CHECK-SAME: (%{{.*}}: tensor<4xf32>) -> tensor<4xf32>
// CHECK-LABEL: func.func private @declared
// CHECK-SAME: (tensor<4xf32>)

// BUFFERS-LABEL: func.func @entry
// BUFFERS-SAME: (%[[X:.*]]: memref<3x3xf32>, %[[BIG:.*]]: memref<3x8xf32> {r2q.weight}, %{{.*}}: index)
// BUFFERS: %[[COPY:.*]] = memref.alloc() {{.*}} : memref<3x8xf32>
// BUFFERS: memref.copy %[[BIG]], %[[COPY]]
// BUFFERS: %[[SLICE:.*]] = memref.subview %[[COPY]][0, 2] [3, 3] [1, 1]
// BUFFERS: memref.copy %[[X]], %[[SLICE]]
// BUFFERS: return %[[COPY]]
func.func @entry(%x: tensor<3x3xf32>, %big: tensor<3x8xf32> {r2q.weight}, %n: index) -> tensor<3x8xf32> {
  %r = tensor.insert_slice %x into %big[0, 2] [3, 3] [1, 1] : tensor<3x3xf32> into tensor<3x8xf32>
  return %r : tensor<3x8xf32>
}

// BUFFERS-LABEL: func.func @update
// BUFFERS-SAME: (%[[A:.*]]: memref<3x3xf32>, %[[DST:.*]]: memref<3x3xf32>, %[[MARKED:.*]]: memref<3x3xf32>)
// BUFFERS: memref.copy %[[A]], %[[DST]]
// BUFFERS: %[[WHOLE:.*]] = memref.subview %[[MARKED]]
// BUFFERS: memref.copy %[[A]], %[[WHOLE]]
// BUFFERS: return %[[DST]], %[[MARKED]]
func.func @update(%x: tensor<3x3xf32>, %dst: tensor<3x3xf32>, %marked: tensor<3x3xf32> {bufferization.writable = true}) -> (tensor<3x3xf32>, tensor<3x3xf32>) {
  %r = bufferization.materialize_in_destination %x in %dst : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
  %m = tensor.insert_slice %x into %marked[0, 0] [3, 3] [1, 1] : tensor<3x3xf32> into tensor<3x3xf32>
  return %r, %m : tensor<3x3xf32>, tensor<3x3xf32>
}

func.func private @helper(%v: tensor<4xf32>) -> tensor<4xf32> {
  return %v : tensor<4xf32>
}

func.func private @declared(tensor<4xf32>)
