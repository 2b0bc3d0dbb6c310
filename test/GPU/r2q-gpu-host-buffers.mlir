// r2q-gpu-host-buffers: a buffer only kernels touch (the host returns it,
// or takes views of it, yields it, carries it through a loop) goes to
// device memory; one host code reads (a copy, a load through a view) to
// managed memory; a constant global is copied to the device once per
// loaded module (a slot holds the copy, the runtime fills it on first use,
// a global destructor frees it; managed memory, in a slot of its own, where
// host code reads the constant too); a mutable global, or a constant the
// function returns, is copied into a managed buffer before use and freed at
// the end of the block (a mutable one copied back first); deallocations
// become gpu.dealloc (every GPU op synchronous: r2q-gpu-pipeline's
// gpu-async-region chains them later); code in launch bodies is left alone; a buffer
// returned to a caller in the module is managed.

// RUN: r2q-opt %s --r2q-gpu-host-buffers | FileCheck %s
// CHECK-DAG: llvm.func @r2qCudaDeviceConstant(!llvm.ptr, !llvm.ptr, i64, i32) -> !llvm.ptr
// CHECK-DAG: llvm.func @r2qCudaReleaseDeviceConstant(!llvm.ptr)
// CHECK-DAG: llvm.mlir.global internal @__r2q_device_weights() {{.*}} : !llvm.ptr
// CHECK-DAG: llvm.mlir.global internal @__r2q_managed_weights() {{.*}} : !llvm.ptr

memref.global "private" constant @weights : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>

// CHECK-LABEL: func.func @buffers
func.func @buffers(%n: index) -> (memref<4xf32>, memref<?xf32>) {
  %c1 = arith.constant 1 : index
  // CHECK: %[[W:.*]] = memref.get_global @weights
  // CHECK: %[[WA:.*]] = memref.extract_aligned_pointer_as_index %[[W]]
  // CHECK: %[[WI:.*]] = arith.index_cast %[[WA]] : index to i64
  // CHECK: %[[HOST:.*]] = llvm.inttoptr %[[WI]]
  // CHECK: %[[SLOT:.*]] = llvm.mlir.addressof @__r2q_device_weights
  // CHECK: %[[BYTES:.*]] = llvm.mlir.constant(16 : i64)
  // CHECK: %[[DEVICE:.*]] = llvm.mlir.constant(0 : i32)
  // CHECK: %[[COPY:.*]] = llvm.call @r2qCudaDeviceConstant(%[[SLOT]], %[[HOST]], %[[BYTES]], %[[DEVICE]])
  // CHECK: llvm.insertvalue %[[COPY]], %{{.*}}[0]
  // CHECK: llvm.insertvalue %[[COPY]], %{{.*}}[1]
  // CHECK: %[[WD:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<{{.*}}> to memref<4xf32>
  %w = memref.get_global @weights : memref<4xf32>
  // CHECK-NOT: gpu.wait
  // CHECK: %[[DEV:.*]] = gpu.alloc () : memref<4xf32>
  %device = memref.alloc() : memref<4xf32>
  // CHECK: %[[MAN:.*]] = gpu.alloc  host_shared (%{{.*}}) : memref<?xf32>
  %managed = memref.alloc(%n) : memref<?xf32>
  // CHECK: %[[TMP:.*]] = gpu.alloc  host_shared () : memref<4xf32>
  %temp = memref.alloc() : memref<4xf32>
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1)
             threads(%t0, %t1, %t2) in (%s0 = %c1, %s1 = %c1, %s2 = %c1) {
    // CHECK: memref.alloca
    // CHECK: memref.load %[[WD]]
    %scratch = memref.alloca() : memref<4xf32>
    %v = memref.load %w[%t0] : memref<4xf32>
    memref.store %v, %device[%t0] : memref<4xf32>
    memref.store %v, %temp[%t0] : memref<4xf32>
    gpu.terminator
  }
  // CHECK: memref.copy %[[TMP]], %[[MAN]]
  memref.copy %temp, %managed : memref<4xf32> to memref<?xf32>
  // CHECK: gpu.dealloc %[[TMP]]
  memref.dealloc %temp : memref<4xf32>
  // The constant's copy outlives the call.
  // CHECK-NOT: gpu.dealloc
  // CHECK: return %[[DEV]], %[[MAN]]
  return %device, %managed : memref<4xf32>, memref<?xf32>
}

// Views, an scf.if that yields one of two buffers and a loop that carries a
// buffer do not touch their data: buffers only kernels read and write
// through them stay device memory; one whose view the host reads is managed.

// CHECK-LABEL: func.func @views
func.func @views(%n: index, %pick: i1) -> memref<?x4xf32> {
  %c1 = arith.constant 1 : index
  %c0 = arith.constant 0 : index
  // CHECK: gpu.alloc () : memref<8x4xf32>
  %a = memref.alloc() : memref<8x4xf32>
  // CHECK: gpu.alloc () : memref<8x4xf32>
  %b = memref.alloc() : memref<8x4xf32>
  // CHECK: gpu.alloc (%{{.*}}) : memref<?x4xf32>
  %out = memref.alloc(%n) : memref<?x4xf32>
  // CHECK: gpu.alloc  host_shared () : memref<8x4xf32>
  %read = memref.alloc() : memref<8x4xf32>
  %va = memref.subview %a[0, 0] [%n, 4] [1, 1] : memref<8x4xf32> to memref<?x4xf32, strided<[4, 1]>>
  %vb = memref.subview %b[0, 0] [%n, 4] [1, 1] : memref<8x4xf32> to memref<?x4xf32, strided<[4, 1]>>
  %chosen = scf.if %pick -> memref<?x4xf32, strided<[4, 1]>> {
    scf.yield %va : memref<?x4xf32, strided<[4, 1]>>
  } else {
    scf.yield %vb : memref<?x4xf32, strided<[4, 1]>>
  }
  %carried = scf.for %i = %c0 to %n step %c1 iter_args(%in = %chosen) -> memref<?x4xf32, strided<[4, 1]>> {
    scf.yield %in : memref<?x4xf32, strided<[4, 1]>>
  }
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1)
             threads(%t0, %t1, %t2) in (%s0 = %c1, %s1 = %c1, %s2 = %c1) {
    %v = memref.load %carried[%t0, %t0] : memref<?x4xf32, strided<[4, 1]>>
    memref.store %v, %out[%t0, %t0] : memref<?x4xf32>
    memref.store %v, %read[%t0, %t0] : memref<8x4xf32>
    gpu.terminator
  }
  %vr = memref.subview %read[0, 0] [2, 4] [1, 1] : memref<8x4xf32> to memref<2x4xf32, strided<[4, 1]>>
  %x = memref.load %vr[%c0, %c0] : memref<2x4xf32, strided<[4, 1]>>
  memref.store %x, %vr[%c1, %c1] : memref<2x4xf32, strided<[4, 1]>>
  return %out : memref<?x4xf32>
}

memref.global "private" @state : memref<4xf32> = dense<0.0>

// CHECK-LABEL: func.func @mutable_global
// CHECK: %[[G:.*]] = memref.get_global @state
// CHECK: %[[C:.*]] = gpu.alloc  host_shared () : memref<4xf32>
// CHECK: memref.copy %[[G]], %[[C]]
// CHECK: gpu.launch
// CHECK: memref.store {{.*}}, %[[C]]
// CHECK: memref.copy %[[C]], %[[G]]
// CHECK: gpu.dealloc %[[C]]
// CHECK: return
func.func @mutable_global(%v: f32) {
  %c1 = arith.constant 1 : index
  %s = memref.get_global @state : memref<4xf32>
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1)
             threads(%t0, %t1, %t2) in (%s0 = %c1, %s1 = %c1, %s2 = %c1) {
    memref.store %v, %s[%t0] : memref<4xf32>
    gpu.terminator
  }
  return
}

// CHECK-LABEL: func.func @callee
// CHECK: gpu.alloc  host_shared () : memref<4xf32>
func.func @callee(%v: f32) -> memref<4xf32> {
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<4xf32>
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1)
             threads(%t0, %t1, %t2) in (%s0 = %c1, %s1 = %c1, %s2 = %c1) {
    memref.store %v, %a[%t0] : memref<4xf32>
    gpu.terminator
  }
  return %a : memref<4xf32>
}

func.func @caller(%v: f32) -> f32 {
  %c0 = arith.constant 0 : index
  %a = func.call @callee(%v) : (f32) -> memref<4xf32>
  %x = memref.load %a[%c0] : memref<4xf32>
  return %x : f32
}

// A constant that host code reads too has a managed copy, in a slot of its
// own; one the function returns is the caller's: a managed copy per call,
// not freed.

// CHECK-LABEL: func.func @host_reads_constant
// CHECK: %[[SLOT:.*]] = llvm.mlir.addressof @__r2q_managed_weights
// CHECK: %[[MANAGED:.*]] = llvm.mlir.constant(1 : i32)
// CHECK: llvm.call @r2qCudaDeviceConstant(%[[SLOT]], %{{.*}}, %{{.*}}, %[[MANAGED]])
// CHECK: %[[C:.*]] = builtin.unrealized_conversion_cast
// CHECK: memref.load %[[C]]
func.func @host_reads_constant() -> f32 {
  %c0 = arith.constant 0 : index
  %w = memref.get_global @weights : memref<4xf32>
  %x = memref.load %w[%c0] : memref<4xf32>
  return %x : f32
}

// CHECK-LABEL: func.func @returns_constant
// CHECK: %[[W:.*]] = memref.get_global @weights
// CHECK: %[[C:.*]] = gpu.alloc  host_shared () : memref<4xf32>
// CHECK: memref.copy %[[W]], %[[C]]
// CHECK-NOT: gpu.dealloc
// CHECK: return %[[C]]
func.func @returns_constant() -> memref<4xf32> {
  %w = memref.get_global @weights : memref<4xf32>
  return %w : memref<4xf32>
}

// The destructor frees both copies of @weights.
// CHECK: llvm.func internal @__r2q_release_device_constants()
// CHECK-DAG: %[[D:.*]] = llvm.mlir.addressof @__r2q_device_weights
// CHECK-DAG: llvm.call @r2qCudaReleaseDeviceConstant(%[[D]])
// CHECK-DAG: %[[M:.*]] = llvm.mlir.addressof @__r2q_managed_weights
// CHECK-DAG: llvm.call @r2qCudaReleaseDeviceConstant(%[[M]])
// A destructor the module had stays, beside the new one.
// CHECK: llvm.mlir.global_dtors dtors = [@earlier_destructor, @__r2q_release_device_constants], priorities = [5 : i32, 0 : i32]
// CHECK-NOT: llvm.mlir.global_dtors
llvm.func @earlier_destructor() {
  llvm.return
}
llvm.mlir.global_dtors dtors = [@earlier_destructor], priorities = [5 : i32], data = [#llvm.zero]
