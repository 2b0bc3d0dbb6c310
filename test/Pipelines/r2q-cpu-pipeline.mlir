// RUN: r2q-opt %s --r2q-cpu-pipeline | FileCheck %s
// RUN: r2q-opt %s --r2q-cpu-pipeline=c-interface=false | FileCheck %s --check-prefix=PLAIN

// Everything ends in the LLVM dialect; public functions get a C interface.
// CHECK-NOT: r2q.
// CHECK-NOT: linalg.
// CHECK-NOT: memref.
// CHECK-NOT: tensor.
// CHECK-LABEL: llvm.func @linear
// CHECK: llvm.call @malloc
// CHECK-LABEL: llvm.func @_mlir_ciface_linear
// CHECK-SAME: (%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK: llvm.call @linear

// PLAIN: llvm.func @linear
// PLAIN-NOT: _mlir_ciface_
func.func @linear(%x: tensor<?x256xf32>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<?x16xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
