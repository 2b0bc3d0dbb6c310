// r2q-gpu-synchronous-managed-allocs: after gpu-async-region, a managed
// allocation (gpu.alloc host_shared) is synchronous again, and the ops that
// waited for its token wait for its dependencies instead: the one there
// is, a join of several, or a fresh token where there was none. Device
// allocations stay in the chain.

// RUN: r2q-opt %s --split-input-file --r2q-gpu-synchronous-managed-allocs | FileCheck %s

// CHECK-LABEL: func.func @chain
func.func @chain(%n: index) {
  // CHECK: %[[T0:.*]] = gpu.wait async
  // CHECK-NEXT: %[[M:.*]] = gpu.alloc host_shared (%{{.*}}) : memref<?xf32>
  // CHECK-NEXT: %[[D:.*]], %[[T2:.*]] = gpu.alloc async [%[[T0]]] () : memref<4xf32>
  // CHECK-NEXT: %[[T3:.*]] = gpu.dealloc async [%[[T2]]] %[[M]]
  // CHECK-NEXT: %[[T4:.*]] = gpu.dealloc async [%[[T3]]] %[[D]]
  // CHECK-NEXT: gpu.wait [%[[T4]]]
  // CHECK-NOT: async {{.*}} host_shared
  %t0 = gpu.wait async
  %m, %t1 = gpu.alloc async [%t0] host_shared (%n) : memref<?xf32>
  %d, %t2 = gpu.alloc async [%t1] () : memref<4xf32>
  %t3 = gpu.dealloc async [%t2] %m : memref<?xf32>
  %t4 = gpu.dealloc async [%t3] %d : memref<4xf32>
  gpu.wait [%t4]
  return
}

// -----

// CHECK-LABEL: func.func @joins
func.func @joins() {
  // CHECK: %[[A:.*]] = gpu.wait async
  // CHECK-NEXT: %[[B:.*]] = gpu.wait async
  // CHECK-NEXT: %[[JOIN:.*]] = gpu.wait async [%[[A]], %[[B]]]
  // CHECK-NEXT: %[[M:.*]] = gpu.alloc host_shared () : memref<4xf32>
  // CHECK-NEXT: gpu.dealloc async [%[[JOIN]]] %[[M]]
  %a = gpu.wait async
  %b = gpu.wait async
  %m, %t = gpu.alloc async [%a, %b] host_shared () : memref<4xf32>
  %t1 = gpu.dealloc async [%t] %m : memref<4xf32>
  gpu.wait [%t1]
  // CHECK: %[[FRESH:.*]] = gpu.wait async
  // CHECK-NEXT: %[[M2:.*]] = gpu.alloc host_shared () : memref<8xf32>
  // CHECK-NEXT: gpu.dealloc async [%[[FRESH]]] %[[M2]]
  %m2, %t2 = gpu.alloc async host_shared () : memref<8xf32>
  %t3 = gpu.dealloc async [%t2] %m2 : memref<8xf32>
  gpu.wait [%t3]
  return
}
