// RUN: r2q-opt %s --split-input-file --r2q-cpu-pipeline --verify-diagnostics
// The way the error suggests: the pipeline nested on the inner module.
// RUN: r2q-opt %s --split-input-file --pass-pipeline="builtin.module(builtin.module(r2q-cpu-pipeline))" | FileCheck %s

// r2q-cpu-pipeline compiles the functions of one module: a nested module is
// an error at that module (r2q-reject-nested-modules), not a half-lowered
// output. Lowered on its own, its layer calls its kernel in that module.
// CHECK-LABEL: module @inner
// CHECK: llvm.func @linear
// CHECK: llvm.call @r2q_matmul_16x256_g128(
// CHECK: llvm.func @r2q_matmul_16x256_g128
// CHECK-NOT: r2q.matmul
// CHECK-NOT: func.func
module {
  // expected-error @below {{nested 'builtin.module' @inner: a pipeline compiles the functions of one module and would leave this one half lowered; compile each module on its own}}
  module @inner {
    func.func @linear(%x: tensor<?x256xf32>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<?x16xf32> {
      %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x16xf32>
      return %y : tensor<?x16xf32>
    }
  }
}

// -----

// An unnamed nested module.
module {
  // expected-error @below {{nested 'builtin.module': a pipeline compiles}}
  module {
    func.func @f() {
      return
    }
  }
}
