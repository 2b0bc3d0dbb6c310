// r2q-cpu-pipeline packs the constant signs and scales of lut_gemv layers
// after the kernel selection and before outlining (the kernel function takes
// the packed weight); pack-weights=false keeps the canonical layout, and layers
// the layout would pad by more than pack-max-padding stay canonical.
// RUN: r2q-opt %s --r2q-cpu-pipeline="threads=1 target-features=+avx512f,+avx512bw,+avx2,+fma" --mlir-print-ir-after=r2q-outline-kernels -o /dev/null 2>&1 | FileCheck %s
// RUN: r2q-opt %s --r2q-cpu-pipeline="threads=1 target-features=+avx512f,+avx512bw,+avx2,+fma pack-weights=false" --mlir-print-ir-after=r2q-outline-kernels -o /dev/null 2>&1 | FileCheck %s --check-prefix=OFF
// RUN: r2q-opt %s --r2q-cpu-pipeline="threads=1 target-features=+avx512f,+avx512bw,+avx2,+fma pack-max-padding=1000" --mlir-print-ir-after=r2q-outline-kernels -o /dev/null 2>&1 | FileCheck %s --check-prefix=ALL

// CHECK-LABEL: func.func @layers
// CHECK: call @r2q_matmul_16x512_g128({{.*}}) : (tensor<1x512xf32>, tensor<2x1x1024xi8>, tensor<2x1x64xf16>)
// CHECK: call @r2q_matmul_3x16_g8({{.*}}) : (tensor<1x16xf32>, tensor<1x3x2xi8>, tensor<1x3x2xf16>)
// CHECK-DAG: r2q.matmul {{.*}} layout = row_interleaved{{.*}} : tensor<1x512xf32>, tensor<2x1x1024xi8>, tensor<2x1x64xf16>
// CHECK-DAG: r2q.matmul {{.*}} target = avx512, vector_width{{.*}} : tensor<1x16xf32>, tensor<1x3x2xi8>, tensor<1x3x2xf16>
// OFF-LABEL: func.func @layers
// OFF-NOT: row_interleaved
// OFF: call @r2q_matmul_16x512_g128({{.*}}) : (tensor<1x512xf32>, tensor<2x16x64xi8>, tensor<2x16x4xf16>)
// ALL-LABEL: func.func @layers
// ALL: call @r2q_matmul_16x512_g128({{.*}}) : (tensor<1x512xf32>, tensor<2x1x1024xi8>, tensor<2x1x64xf16>)
// ALL: call @r2q_matmul_3x16_g8({{.*}}) : (tensor<1x16xf32>, tensor<1x1x1024xi8>, tensor<1x1x32xf16>)
func.func @layers(%x: tensor<1x512xf32>, %x2: tensor<1x16xf32>) -> (tensor<1x16xf32>, tensor<1x3xf32>) {
  %s = arith.constant dense<5> : tensor<2x16x64xi8>
  %a = arith.constant dense<1.0> : tensor<2x16x4xf16>
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x512xf32>, tensor<2x16x64xi8>, tensor<2x16x4xf16> -> tensor<1x16xf32>
  %s2 = arith.constant dense<[[[1, 2], [3, 4], [5, 6]]]> : tensor<1x3x2xi8>
  %a2 = arith.constant dense<1.0> : tensor<1x3x2xf16>
  %z = r2q.matmul %x2, %s2, %a2 group_size 8 : tensor<1x16xf32>, tensor<1x3x2xi8>, tensor<1x3x2xf16> -> tensor<1x3xf32>
  return %y, %z : tensor<1x16xf32>, tensor<1x3xf32>
}
