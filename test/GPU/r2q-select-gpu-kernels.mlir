// r2q-select-gpu-kernels: table lookups (warp_lut_gemv) for every static
// batch, xor sign flips (warp_gemv) with strategy=warp_gemv; a GPU kernel
// already on an op is kept; tile-rows is written on the kernels it chooses;
// an unknown or CPU strategy option is refused.

// RUN: r2q-opt %s --r2q-select-gpu-kernels | FileCheck %s
// RUN: r2q-opt %s --r2q-select-gpu-kernels="strategy=warp_gemv tile-rows=8" | FileCheck %s --check-prefix=OPTIONS
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="strategy=lut_gemv" 2>&1 | FileCheck %s --check-prefix=UNKNOWN

// CHECK-LABEL: func.func @kernels
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = warp_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<1x256xf32>
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = warp_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<2x2x256xf32>
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = warp_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<5x256xf32>
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = warp_gemv, vector_width = 16, tile_rows = 2, threads = 1>} : tensor<1x256xf32>

// OPTIONS: strategy = warp_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<1x256xf32>
// OPTIONS: strategy = warp_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<2x2x256xf32>
// OPTIONS: strategy = warp_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<5x256xf32>
// OPTIONS: strategy = warp_gemv, vector_width = 16, tile_rows = 2, threads = 1>} : tensor<1x256xf32>

// UNKNOWN: error: r2q-select-gpu-kernels: unknown strategy 'lut_gemv'; expected auto, warp_lut_gemv or warp_gemv

func.func @kernels(%x1: tensor<1x256xf32>, %x4: tensor<2x2x256xf32>, %x5: tensor<5x256xf32>,
                   %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>)
    -> (tensor<1x16xf32>, tensor<2x2x16xf32>, tensor<5x16xf32>, tensor<1x16xf32>) {
  %y1 = r2q.matmul %x1, %s, %a group_size 128 : tensor<1x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<1x16xf32>
  %y4 = r2q.matmul %x4, %s, %a group_size 128 : tensor<2x2x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<2x2x16xf32>
  %y5 = r2q.matmul %x5, %s, %a group_size 128 : tensor<5x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<5x16xf32>
  %kept = r2q.matmul %x1, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = warp_gemv, vector_width = 16, tile_rows = 2, threads = 1>} : tensor<1x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<1x16xf32>
  return %y1, %y4, %y5, %kept : tensor<1x16xf32>, tensor<2x2x16xf32>, tensor<5x16xf32>, tensor<1x16xf32>
}
