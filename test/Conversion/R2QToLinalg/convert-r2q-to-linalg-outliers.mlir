// RUN: r2q-opt %s --split-input-file --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="vector-width=16 lut-gemv=false threads=1" --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s --check-prefix=GEMV

// Dense + sparse R2Q: whatever computes the dense part (fused decode, tiled
// decode, vector GEMV), one generic over (m, n) then adds the row's outliers,
// x[m][columns[j]] * values[j] for j in [offsets[n], offsets[n+1]), in f32,
// before the result is rounded to its element type.

// CHECK-LABEL: func.func @gemv_outliers
// CHECK-SAME: (%[[X:.*]]: tensor<1x100xf32>, %{{.*}}: tensor<2x16x13xi8>, %{{.*}}: tensor<2x16x4xf16>, %[[O:.*]]: tensor<17xi32>, %[[C:.*]]: tensor<?xi16>, %[[V:.*]]: tensor<?xf16>)
// The whole groups, then the shorter last group (K = 100, G = 32).
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]
// CHECK: %[[DENSE:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]
// CHECK: %[[SPARSE:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]} outs(%[[DENSE]] : tensor<1x16xf32>)
// CHECK: ^bb0(%[[OUT:.*]]: f32):
// CHECK: %[[N:.*]] = linalg.index 1
// CHECK: tensor.extract %[[O]][%[[N]]] : tensor<17xi32>
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %[[OUT]]) -> (f32)
// CHECK: %[[COL:.*]] = tensor.extract %[[C]][%[[J]]] : tensor<?xi16>
// CHECK: %[[COLI:.*]] = arith.index_cast %[[COL]] : i16 to index
// CHECK: %[[XV:.*]] = tensor.extract %[[X]][%{{.*}}, %[[COLI]]]
// CHECK: %[[VAL:.*]] = tensor.extract %[[V]][%[[J]]] : tensor<?xf16>
// CHECK: %[[VALF:.*]] = arith.extf %[[VAL]] : f16 to f32
// CHECK: %[[T:.*]] = arith.mulf %[[XV]], %[[VALF]]
// CHECK: arith.addf %[[ACC]], %[[T]]
// CHECK: return %[[SPARSE]]
// GEMV-LABEL: func.func @gemv_outliers
// GEMV: vector.transfer_read
// GEMV: %[[DENSE:.*]] = scf.for
// GEMV: linalg.generic {{.*}}outs(%[[DENSE]] : tensor<1x16xf32>)
// GEMV: scf.for
// GEMV: tensor.extract
func.func @gemv_outliers(%x: tensor<1x100xf32>, %s: tensor<2x16x13xi8>, %a: tensor<2x16x4xf16>, %o: tensor<17xi32>, %c: tensor<?xi16>, %v: tensor<?xf16>) -> tensor<1x16xf32> {
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<1x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16>, outliers(tensor<17xi32>, tensor<?xi16>, tensor<?xf16>) -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}

// -----

// Tiled decode (17 rows), 3-D input, f32 corrections, bf16 result rounded
// after the sparse step.
// CHECK-LABEL: func.func @tiled_outliers
// CHECK: %[[DENSE:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: %[[SPARSE:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]} outs(%[[DENSE]] : tensor<1x17x24xf32>)
// CHECK: linalg.index 2
// CHECK: scf.for
// CHECK: tensor.extract %{{.*}} : tensor<9xi32>
// CHECK: tensor.extract %{{.*}} : tensor<1x17x64xbf16>
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: tensor.extract %{{.*}} : tensor<9xf32>
// CHECK: linalg.generic {{.*}} ins(%[[SPARSE]] : tensor<1x17x24xf32>)
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// GEMV-LABEL: func.func @tiled_outliers
// GEMV: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]}
// GEMV: scf.for
func.func @tiled_outliers(%x: tensor<1x17x64xbf16>, %s: tensor<1x24x8xi8>, %a: tensor<1x24x2xf32>, %o: tensor<25xi32>, %c: tensor<9xi32>, %v: tensor<9xf32>) -> tensor<1x17x24xbf16> {
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<1x17x64xbf16>, tensor<1x24x8xi8>, tensor<1x24x2xf32>, outliers(tensor<25xi32>, tensor<9xi32>, tensor<9xf32>) -> tensor<1x17x24xbf16>
  return %y : tensor<1x17x24xbf16>
}

// -----

// Without outliers there is no sparse step.
// CHECK-LABEL: func.func @no_outliers
// CHECK-NOT: scf.for
// CHECK: return
func.func @no_outliers(%x: tensor<1x100xf32>, %s: tensor<2x16x13xi8>, %a: tensor<2x16x4xf16>) -> tensor<1x16xf32> {
  %y = r2q.matmul %x, %s, %a group_size 32 : tensor<1x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16> -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}
