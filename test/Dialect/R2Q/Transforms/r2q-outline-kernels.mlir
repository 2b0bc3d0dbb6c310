// RUN: r2q-opt %s --split-input-file --r2q-outline-kernels | FileCheck %s
// A second run and the MLIR inliner leave the kernels alone.
// RUN: r2q-opt %s --split-input-file --r2q-outline-kernels --r2q-outline-kernels --inline | FileCheck %s

// Layers of one kind share one kernel; their constant planes and scales
// become call operands. A layer name stays on its call.
// CHECK-LABEL: func.func @shared
// CHECK-DAG: %[[S0:.*]] = arith.constant dense<1> : tensor<2x16x32xi8>
// CHECK-DAG: %[[A0:.*]] = arith.constant dense<1.000000e+00> : tensor<2x16x2xf16>
// CHECK-DAG: %[[S1:.*]] = arith.constant dense<2> : tensor<2x16x32xi8>
// CHECK-DAG: %[[A1:.*]] = arith.constant dense<2.000000e+00> : tensor<2x16x2xf16>
// CHECK: %[[Y:.*]] = call @r2q_matmul_16x256_g128(%{{.*}}, %[[S0]], %[[A0]]) :
// CHECK-SAME: (tensor<?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16>) -> tensor<?x16xf32>
// CHECK: %[[Z:.*]] = call @r2q_matmul_16x256_g128(%{{.*}}, %[[S1]], %[[A1]]) {r2q.layer = "second"}
// CHECK: return %[[Y]], %[[Z]]
// CHECK-NOT: r2q.matmul
// CHECK-LABEL: func.func private @r2q_matmul_16x256_g128
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xf32>, %[[S:.*]]: tensor<2x16x32xi8>, %[[A:.*]]: tensor<2x16x2xf16>) -> tensor<?x16xf32>
// CHECK-SAME: attributes {no_inline}
// CHECK-NEXT: %[[R:.*]] = r2q.matmul %[[X]], %[[S]], %[[A]] group_size 128 :
// CHECK-NOT: r2q.layer
// CHECK-NEXT: return %[[R]] : tensor<?x16xf32>
// CHECK-NOT: func.func
func.func @shared(%x: tensor<?x256xf32>, %x2: tensor<?x256xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %s0 = arith.constant dense<1> : tensor<2x16x32xi8>
  %a0 = arith.constant dense<1.0> : tensor<2x16x2xf16>
  %s1 = arith.constant dense<2> : tensor<2x16x32xi8>
  %a1 = arith.constant dense<2.0> : tensor<2x16x2xf16>
  %y = r2q.matmul %x, %s0, %a0 group_size 128 : tensor<?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x16xf32>
  %z = r2q.matmul %x2, %s1, %a1 group_size 128 {r2q.layer = "second"} : tensor<?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x16xf32>
  return %y, %z : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// Distinct group sizes, planes, element types and batch shapes get distinct
// kernels; dynamic batch dimensions stay dynamic. Functions are kernels'
// callers in any order, and kernels are shared across functions.
// CHECK-LABEL: func.func @distinct
// CHECK: call @r2q_matmul_16x256_g128(
// CHECK-SAME: -> tensor<?x?x16xf32>
// CHECK: call @r2q_matmul_16x256_g64(
// CHECK: call @r2q_matmul_16x256_g128_0(
// CHECK-SAME: -> tensor<?x?x16xbf16>
// CHECK: call @r2q_matmul_16x256_g128_1(
// CHECK-SAME: (tensor<3x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16>) -> tensor<3x16xf32>
// CHECK: call @r2q_matmul_16x256_g128_2(
// CHECK-SAME: (tensor<?x?x256xf32>, tensor<1x16x32xi8>, tensor<1x16x2xf16>)
// CHECK-LABEL: func.func @other
// CHECK: call @r2q_matmul_16x256_g128(
// CHECK-DAG: func.func private @r2q_matmul_16x256_g128(%{{.*}}: tensor<?x?x256xf32>, %{{.*}}: tensor<2x16x32xi8>, %{{.*}}: tensor<2x16x2xf16>) -> tensor<?x?x16xf32>
// CHECK-DAG: func.func private @r2q_matmul_16x256_g64(%{{.*}}: tensor<?x?x256xf32>, %{{.*}}: tensor<2x16x32xi8>, %{{.*}}: tensor<2x16x4xf16>) -> tensor<?x?x16xf32>
// CHECK-DAG: func.func private @r2q_matmul_16x256_g128_0(%{{.*}}: tensor<?x?x256xbf16>, %{{.*}}: tensor<2x16x32xi8>, %{{.*}}: tensor<2x16x2xf16>) -> tensor<?x?x16xbf16>
// CHECK-DAG: func.func private @r2q_matmul_16x256_g128_1(%{{.*}}: tensor<3x256xf32>
// CHECK-DAG: func.func private @r2q_matmul_16x256_g128_2(%{{.*}}: tensor<?x?x256xf32>, %{{.*}}: tensor<1x16x32xi8>
func.func @distinct(%x: tensor<?x?x256xf32>, %xb: tensor<?x?x256xbf16>, %x3: tensor<3x256xf32>,
                    %s: tensor<2x16x32xi8>, %a128: tensor<2x16x2xf16>, %a64: tensor<2x16x4xf16>,
                    %s1: tensor<1x16x32xi8>, %a1: tensor<1x16x2xf16>) {
  %0 = r2q.matmul %x, %s, %a128 group_size 128 : tensor<?x?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x?x16xf32>
  %1 = r2q.matmul %x, %s, %a64 group_size 64 : tensor<?x?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x4xf16> -> tensor<?x?x16xf32>
  %2 = r2q.matmul %xb, %s, %a128 group_size 128 : tensor<?x?x256xbf16>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x?x16xbf16>
  %3 = r2q.matmul %x3, %s, %a128 group_size 128 : tensor<3x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<3x16xf32>
  %4 = r2q.matmul %x, %s1, %a1 group_size 128 : tensor<?x?x256xf32>, tensor<1x16x32xi8>, tensor<1x16x2xf16> -> tensor<?x?x16xf32>
  return
}
func.func @other(%x: tensor<?x?x256xf32>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<?x?x16xf32> {
  %0 = r2q.matmul %x, %s, %a group_size 128 : tensor<?x?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x?x16xf32>
  return %0 : tensor<?x?x16xf32>
}

// -----

// Inside regions too; a kernel name already taken gets a counter.
// CHECK-LABEL: func.func @r2q_matmul_8x64_g64
// CHECK-NEXT: return
// CHECK-LABEL: func.func @in_loop
// CHECK: scf.for
// CHECK: call @r2q_matmul_8x64_g64_0(
// CHECK: func.func private @r2q_matmul_8x64_g64_0(
func.func @r2q_matmul_8x64_g64() {
  return
}
func.func @in_loop(%x: tensor<1x64xf32>, %s: tensor<2x8x8xi8>, %a: tensor<2x8x1xf16>, %n: index) -> tensor<1x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %init = tensor.empty() : tensor<1x8xf32>
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %init) -> tensor<1x8xf32> {
    %y = r2q.matmul %x, %s, %a group_size 64 : tensor<1x64xf32>, tensor<2x8x8xi8>, tensor<2x8x1xf16> -> tensor<1x8xf32>
    scf.yield %y : tensor<1x8xf32>
  }
  return %r : tensor<1x8xf32>
}

// -----

// A nested module's layers get kernels in that module (its symbol table).
// CHECK-LABEL: module @inner
// CHECK: func.func @f
// CHECK: call @r2q_matmul_8x64_g64(
// CHECK: func.func private @r2q_matmul_8x64_g64(
// CHECK-NEXT: r2q.matmul
// CHECK-NEXT: return
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NOT: func.func
module {
  module @inner {
    func.func @f(%x: tensor<1x64xf32>, %s: tensor<2x8x8xi8>, %a: tensor<2x8x1xf16>) -> tensor<1x8xf32> {
      %y = r2q.matmul %x, %s, %a group_size 64 : tensor<1x64xf32>, tensor<2x8x8xi8>, tensor<2x8x1xf16> -> tensor<1x8xf32>
      return %y : tensor<1x8xf32>
    }
  }
}

// -----

// Dense + sparse layers: the number of outliers differs per layer, so their
// columns and values are cast to a dynamic size at the call and layers of
// one shape still share one kernel (compile time stays linear in layers). A
// layer of the same shape without outliers gets its own kernel.
// CHECK-LABEL: func.func @outliers
// CHECK-SAME: (%[[X:.*]]: tensor<3x256xf32>, %[[S:.*]]: tensor<2x16x32xi8>, %[[A:.*]]: tensor<2x16x2xf16>, %[[O:.*]]: tensor<17xi32>, %[[C0:.*]]: tensor<5xi16>, %[[V0:.*]]: tensor<5xf16>, %[[C1:.*]]: tensor<9xi16>, %[[V1:.*]]: tensor<9xf16>)
// CHECK-DAG: %[[DC0:.*]] = tensor.cast %[[C0]] : tensor<5xi16> to tensor<?xi16>
// CHECK-DAG: %[[DV0:.*]] = tensor.cast %[[V0]] : tensor<5xf16> to tensor<?xf16>
// CHECK: %[[Y:.*]] = call @[[KERNEL:r2q_matmul_16x256_g128.*]](%[[X]], %[[S]], %[[A]], %[[O]], %[[DC0]], %[[DV0]]) :
// CHECK-SAME: (tensor<3x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16>, tensor<17xi32>, tensor<?xi16>, tensor<?xf16>) -> tensor<3x16xf32>
// CHECK-DAG: %[[DC1:.*]] = tensor.cast %[[C1]] : tensor<9xi16> to tensor<?xi16>
// CHECK-DAG: %[[DV1:.*]] = tensor.cast %[[V1]] : tensor<9xf16> to tensor<?xf16>
// CHECK: %[[Z:.*]] = call @[[KERNEL]](%[[X]], %[[S]], %[[A]], %[[O]], %[[DC1]], %[[DV1]])
// CHECK: %[[W:.*]] = call @[[DENSE:r2q_matmul_16x256_g128.*]](%[[X]], %[[S]], %[[A]]) :
// CHECK: return %[[Y]], %[[Z]], %[[W]]
// CHECK-DAG: func.func private @[[KERNEL]](%{{.*}}: tensor<3x256xf32>, %{{.*}}: tensor<2x16x32xi8>, %{{.*}}: tensor<2x16x2xf16>, %{{.*}}: tensor<17xi32>, %{{.*}}: tensor<?xi16>, %{{.*}}: tensor<?xf16>) -> tensor<3x16xf32>
// CHECK-DAG: func.func private @[[DENSE]](%{{.*}}: tensor<3x256xf32>, %{{.*}}: tensor<2x16x32xi8>, %{{.*}}: tensor<2x16x2xf16>) -> tensor<3x16xf32>
// CHECK-NOT: func.func
func.func @outliers(%x: tensor<3x256xf32>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>, %o: tensor<17xi32>,
                    %c0: tensor<5xi16>, %v0: tensor<5xf16>, %c1: tensor<9xi16>, %v1: tensor<9xf16>)
    -> (tensor<3x16xf32>, tensor<3x16xf32>, tensor<3x16xf32>) {
  %y = r2q.matmul %x, %s, %a outliers(%o, %c0, %v0) group_size 128 : tensor<3x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16>, outliers(tensor<17xi32>, tensor<5xi16>, tensor<5xf16>) -> tensor<3x16xf32>
  %z = r2q.matmul %x, %s, %a outliers(%o, %c1, %v1) group_size 128 : tensor<3x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16>, outliers(tensor<17xi32>, tensor<9xi16>, tensor<9xf16>) -> tensor<3x16xf32>
  %w = r2q.matmul %x, %s, %a group_size 128 : tensor<3x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<3x16xf32>
  return %y, %z, %w : tensor<3x16xf32>, tensor<3x16xf32>, tensor<3x16xf32>
}
