// r2q-gpu-host-buffers and the arguments of functions called from outside
// the module (the caller's device memory, by the GPU calling convention):
// a dense host copy from or to one becomes a runtime copy (gpu.memcpy, any
// memory to any), and its other buffer device memory; any other host access
// (a load, a strided copy, an address put to any use but a comparison) is an
// error at the op, not a host read of device memory that faults at run
// time; comparing an argument's address with another's (as buffer
// deallocation does) reads nothing. A function called inside the module
// keeps its host code (its caller's buffers are the module's own).

// RUN: r2q-opt %s --split-input-file --r2q-gpu-host-buffers --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @dense_copies
// CHECK-SAME: (%[[X:.*]]: memref<3x5xf32>, %[[OUT:.*]]: memref<3x5xf32>)
// CHECK: %[[COPY:.*]] = gpu.alloc () : memref<3x5xf32>
// CHECK: gpu.memcpy %[[COPY]], %[[X]] : memref<3x5xf32>, memref<3x5xf32>
// CHECK: gpu.memcpy %[[OUT]], %[[COPY]]
// CHECK-NOT: memref.copy
// CHECK: return %[[COPY]]
func.func @dense_copies(%x: memref<3x5xf32>, %out: memref<3x5xf32>) -> memref<3x5xf32> {
  %copy = memref.alloc() : memref<3x5xf32>
  memref.copy %x, %copy : memref<3x5xf32> to memref<3x5xf32>
  memref.copy %copy, %out : memref<3x5xf32> to memref<3x5xf32>
  return %copy : memref<3x5xf32>
}

// -----

func.func @strided_copy(%x: memref<4x6xf32>) -> memref<4x3xf32> {
  %view = memref.subview %x[0, 1] [4, 3] [1, 2] : memref<4x6xf32> to memref<4x3xf32, strided<[6, 2], offset: 1>>
  %copy = memref.alloc() : memref<4x3xf32>
  // expected-error @below {{'memref.copy' op r2q-gpu-host-buffers: host code reads or writes argument 0 of @strided_copy, which is the caller's device memory (the GPU calling convention): only kernels and dense copies may touch it}}
  memref.copy %view, %copy : memref<4x3xf32, strided<[6, 2], offset: 1>> to memref<4x3xf32>
  return %copy : memref<4x3xf32>
}

// -----

func.func @scalar(%x: memref<f32>) -> f32 {
  // expected-error @below {{'memref.load' op r2q-gpu-host-buffers: host code reads or writes argument 0 of @scalar, which is the caller's device memory (the GPU calling convention): only kernels and dense copies may touch it}}
  %v = memref.load %x[] : memref<f32>
  return %v : f32
}

// -----

// CHECK-LABEL: func.func @inner
// CHECK: memref.load
func.func @inner(%x: memref<f32>) -> f32 {
  %v = memref.load %x[] : memref<f32>
  return %v : f32
}

func.func @outer(%v: f32) -> f32 {
  %buffer = memref.alloc() : memref<f32>
  memref.store %v, %buffer[] : memref<f32>
  %r = func.call @inner(%buffer) : (memref<f32>) -> f32
  return %r : f32
}

// -----

// Buffer deallocation asks whether a result is an argument by comparing
// their addresses: taking an argument's address reads none of its data.
// CHECK-LABEL: func.func @address_compared
// CHECK-SAME: (%[[X:.*]]: memref<4xf32>, %[[Y:.*]]: memref<4xf32>)
// CHECK: memref.extract_aligned_pointer_as_index %[[X]]
// CHECK: arith.cmpi eq
func.func @address_compared(%x: memref<4xf32>, %y: memref<4xf32>) -> i1 {
  %a = memref.extract_aligned_pointer_as_index %x : memref<4xf32> -> index
  %b = memref.extract_aligned_pointer_as_index %y : memref<4xf32> -> index
  %same = arith.cmpi eq, %a, %b : index
  return %same : i1
}

// -----

// An address put to another use may reach the data: refused.
func.func @address_used(%x: memref<4xf32>) -> index {
  // expected-error @below {{'memref.extract_aligned_pointer_as_index' op r2q-gpu-host-buffers: host code reads or writes argument 0 of @address_used, which is the caller's device memory (the GPU calling convention): only kernels and dense copies may touch it}}
  %a = memref.extract_aligned_pointer_as_index %x : memref<4xf32> -> index
  %b = arith.addi %a, %a : index
  return %b : index
}

// -----

// A public function that the module calls too: a dense copy of an argument
// is a runtime copy there as well (a caller outside passes device memory,
// which a host copy would fault on); its other host code is its callers' in
// the module to allow, and stays.
// CHECK-LABEL: func.func @public_and_called
// CHECK-SAME: (%[[X:.*]]: memref<4xf32>)
// CHECK: gpu.memcpy %{{.*}}, %[[X]]
// CHECK-NOT: memref.copy
// CHECK: memref.load %[[X]]
func.func @public_and_called(%x: memref<4xf32>) -> (f32, memref<4xf32>) {
  %copy = memref.alloc() : memref<4xf32>
  memref.copy %x, %copy : memref<4xf32> to memref<4xf32>
  %c0 = arith.constant 0 : index
  %v = memref.load %x[%c0] : memref<4xf32>
  return %v, %copy : f32, memref<4xf32>
}

func.func @calls_it() -> f32 {
  %b = memref.alloc() : memref<4xf32>
  %r:2 = func.call @public_and_called(%b) : (memref<4xf32>) -> (f32, memref<4xf32>)
  return %r#0 : f32
}
