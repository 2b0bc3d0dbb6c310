// r2q-select-gpu-kernels by the grid's limits: auto takes the tensor cores
// for as many rows as mma_gemm's grid holds (65535 blocks of 64 rows in y),
// and the tables (warp_lut_gemv, whose grid counts output features only)
// for more, rather than an mma_gemm whose launch would fail.

// RUN: r2q-opt %s --r2q-select-gpu-kernels | FileCheck %s

// CHECK-LABEL: func.func @rows
// CHECK: strategy = mma_gemm, {{.*}} : tensor<4194240x64xf16>
// CHECK: strategy = warp_lut_gemv, {{.*}} : tensor<4194305x64xf16>
func.func @rows(%most: tensor<4194240x64xf16>, %more: tensor<4194305x64xf16>,
                %s: tensor<2x16x8xi8>, %a: tensor<2x16x1xf16>)
    -> (tensor<4194240x16xf32>, tensor<4194305x16xf32>) {
  %y = r2q.matmul %most, %s, %a group_size 64 : tensor<4194240x64xf16>, tensor<2x16x8xi8>, tensor<2x16x1xf16> -> tensor<4194240x16xf32>
  %z = r2q.matmul %more, %s, %a group_size 64 : tensor<4194305x64xf16>, tensor<2x16x8xi8>, tensor<2x16x1xf16> -> tensor<4194305x16xf32>
  return %y, %z : tensor<4194240x16xf32>, tensor<4194305x16xf32>
}
