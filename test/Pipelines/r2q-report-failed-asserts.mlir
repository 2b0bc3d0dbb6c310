// RUN: r2q-opt %s --r2q-report-failed-asserts --split-input-file --verify-diagnostics | FileCheck %s
// RUN: r2q-opt %s --r2q-report-failed-asserts=grouped=false --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=EACH

// The asserts of a block become one branch where the last stood: on if all
// held, else to the region's failure block with the first failed message,
// which it writes to fd 2 before aborting. Equal messages share a global.

// CHECK-DAG: llvm.mlir.global internal constant @[[$FIRST:r2q_assert_message_[0-9]+]]("first\0A\00")
// CHECK-DAG: llvm.mlir.global internal constant @[[$SECOND:r2q_assert_message_[0-9]+]]("second\0A\00")
// CHECK-DAG: llvm.func @write(i32, !llvm.ptr, i64) -> i64
// CHECK-DAG: llvm.func @strlen(!llvm.ptr) -> i64
// CHECK-DAG: llvm.func @abort()
// CHECK-LABEL: func.func @two_blocks
// CHECK-SAME: (%[[A:.*]]: i1, %[[B:.*]]: i1, %[[C:.*]]: i1, %[[P:.*]]: !llvm.ptr)
// CHECK-NOT: cf.assert
// CHECK: llvm.load %[[P]]
// CHECK: %[[M1:.*]] = llvm.mlir.addressof @[[$FIRST]]
// CHECK: %[[M2:.*]] = llvm.mlir.addressof @[[$SECOND]]
// CHECK: %[[M:.*]] = llvm.select %[[A]], %[[M2]], %[[M1]]
// CHECK: %[[OK:.*]] = arith.andi %[[A]], %[[B]]
// CHECK: cf.cond_br %[[OK]], ^[[REST:.*]], ^[[FAILED:.*]](%[[M]] : !llvm.ptr)
// CHECK: ^[[REST]]:
// CHECK: llvm.store
// CHECK: cf.br ^[[NEXT:.*]]
// CHECK: ^[[NEXT]]:
// CHECK: %[[M3:.*]] = llvm.mlir.addressof @[[$FIRST]]
// CHECK: cf.cond_br %[[C]], ^{{.*}}, ^[[FAILED]](%[[M3]] : !llvm.ptr)
// CHECK: return
// CHECK: ^[[FAILED]](%[[MESSAGE:.*]]: !llvm.ptr):
// CHECK: %[[FD:.*]] = llvm.mlir.constant(2 : i32)
// CHECK: %[[LENGTH:.*]] = llvm.call @strlen(%[[MESSAGE]])
// CHECK: llvm.call @write(%[[FD]], %[[MESSAGE]], %[[LENGTH]])
// CHECK: llvm.call @abort()
// CHECK: llvm.unreachable
func.func @two_blocks(%a: i1, %b: i1, %c: i1, %p: !llvm.ptr) -> f32 {
  cf.assert %a, "first"
  %v = llvm.load %p : !llvm.ptr -> f32
  cf.assert %b, "second"
  llvm.store %v, %p : f32, !llvm.ptr
  cf.br ^next
^next:
  cf.assert %c, "first"
  return %v : f32
}

// grouped=false: each assert branches where it stands, before the op after
// it (here the load and the store).
// EACH-LABEL: func.func @two_blocks
// EACH: cf.cond_br %{{.*}}, ^[[AFTER_A:.*]], ^[[FAILED:.*]](%{{.*}} : !llvm.ptr)
// EACH: ^[[AFTER_A]]:
// EACH-NEXT: llvm.load
// EACH: cf.cond_br %{{.*}}, ^[[AFTER_B:.*]], ^[[FAILED]](%{{.*}} : !llvm.ptr)
// EACH: ^[[AFTER_B]]:
// EACH-NEXT: llvm.store
// EACH: cf.cond_br %{{.*}}, ^{{.*}}, ^[[FAILED]](%{{.*}} : !llvm.ptr)
// EACH: llvm.call @abort()

// A GPU kernel's asserts are left to convert-gpu-to-nvvm (device asserts).
// CHECK-LABEL: gpu.module @kernels
// CHECK: cf.assert %{{.*}}, "in a kernel"
// CHECK-NOT: llvm.call @write
// CHECK: gpu.return
gpu.module @kernels {
  gpu.func @kernel(%a: i1) kernel {
    cf.assert %a, "in a kernel"
    gpu.return
  }
}

// CHECK-LABEL: func.func @no_asserts
// CHECK-NOT: cf.cond_br
// CHECK: return
func.func @no_asserts(%x: f32) -> f32 {
  return %x : f32
}

// -----

// A module that declares write otherwise than libc is an error.

// expected-error @+1 {{redefinition of function 'write' of different type}}
llvm.func @write(i32, !llvm.ptr) -> i32

func.func @f(%a: i1) {
  cf.assert %a, "never reported"
  return
}
