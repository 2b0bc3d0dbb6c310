// r2q-select-gpu-kernels: table lookups (warp_lut_gemv) below 16 rows,
// tensor cores (mma_gemm) from 16 rows on (rows are the product of the
// leading dimensions: 2x8 is 16), or table lookups for every batch with
// precision=exact; xor sign flips (warp_gemv) or one kernel for every batch
// with the strategy option; a GPU kernel already on an op is kept;
// tile-rows is written on the kernels it chooses (with auto, on the warp
// kernels only; mma_gemm keeps its default); an unknown or CPU strategy
// option, an unknown precision and mma_gemm with precision=exact are
// refused, and so is a tile-rows that mma_gemm cannot take, at the op. On a
// chip older than sm_80 (no ldmatrix/mma.sync m16n8k16) auto takes the
// tables at every batch and a forced mma_gemm is refused at the op; a chip
// that is not sm_ and a number is refused, and so is a PTX version older
// than the chip needs. wgmma_gemm (auto never takes it) is taken when forced
// on sm_90a and refused at the op on any other chip (sm_90 without the
// arch-specific features, sm_100), and with precision=exact.

// RUN: r2q-opt %s --r2q-select-gpu-kernels | FileCheck %s
// RUN: r2q-opt %s --r2q-select-gpu-kernels="strategy=warp_gemv tile-rows=8" | FileCheck %s --check-prefix=OPTIONS
// RUN: r2q-opt %s --r2q-select-gpu-kernels="tile-rows=8" | FileCheck %s --check-prefix=AUTOROWS
// RUN: r2q-opt %s --r2q-select-gpu-kernels="strategy=mma_gemm tile-rows=64" | FileCheck %s --check-prefix=MMA
// RUN: r2q-opt %s --r2q-select-gpu-kernels="strategy=warp_lut_gemv" | FileCheck %s --check-prefix=EXACT
// RUN: r2q-opt %s --r2q-select-gpu-kernels="precision=exact" | FileCheck %s --check-prefix=EXACT
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="precision=half" 2>&1 | FileCheck %s --check-prefix=PRECISION
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="strategy=mma_gemm precision=exact" 2>&1 | FileCheck %s --check-prefix=EXACTMMA
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="strategy=lut_gemv" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="strategy=mma_gemm tile-rows=8" 2>&1 | FileCheck %s --check-prefix=MMAROWS
// RUN: r2q-opt %s --r2q-select-gpu-kernels="chip=sm_80" | FileCheck %s
// RUN: r2q-opt %s --r2q-select-gpu-kernels="chip=sm_90a" | FileCheck %s
// RUN: r2q-opt %s --r2q-select-gpu-kernels="chip=sm_75" | FileCheck %s --check-prefix=EXACT
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="chip=sm_75 strategy=mma_gemm" 2>&1 | FileCheck %s --check-prefix=OLDCHIP
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="chip=gfx90a" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="chip=sm_100" 2>&1 | FileCheck %s --check-prefix=PTX
// RUN: r2q-opt %s --r2q-select-gpu-kernels="chip=sm_100 cubin-features=+ptx86" | FileCheck %s
// RUN: r2q-opt %s --r2q-select-gpu-kernels="chip=sm_90a strategy=wgmma_gemm tile-rows=192" | FileCheck %s --check-prefix=WGMMA
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="strategy=wgmma_gemm" 2>&1 | FileCheck %s --check-prefix=WGMMACHIP
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="chip=sm_100a cubin-features=+ptx86 strategy=wgmma_gemm" 2>&1 | FileCheck %s --check-prefix=WGMMACHIP100
// RUN: not r2q-opt %s --r2q-select-gpu-kernels="chip=sm_90a strategy=wgmma_gemm precision=exact" 2>&1 | FileCheck %s --check-prefix=EXACTWGMMA

// CHECK-LABEL: func.func @kernels
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = warp_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<1x256xf32>
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = warp_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<2x2x256xf32>
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = warp_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<15x256xf32>
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = mma_gemm, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<2x8x256xf32>
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = mma_gemm, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<129x256xf32>
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = warp_gemv, vector_width = 16, tile_rows = 2, threads = 1>} : tensor<1x256xf32>

// OPTIONS: strategy = warp_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<1x256xf32>
// OPTIONS: strategy = warp_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<2x2x256xf32>
// OPTIONS: strategy = warp_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<15x256xf32>
// OPTIONS: strategy = warp_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<2x8x256xf32>
// OPTIONS: strategy = warp_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<129x256xf32>
// OPTIONS: strategy = warp_gemv, vector_width = 16, tile_rows = 2, threads = 1>} : tensor<1x256xf32>

// AUTOROWS: strategy = warp_lut_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<1x256xf32>
// AUTOROWS: strategy = warp_lut_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<2x2x256xf32>
// AUTOROWS: strategy = warp_lut_gemv, vector_width = 16, tile_rows = 8, threads = 1>} : tensor<15x256xf32>
// AUTOROWS: strategy = mma_gemm, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<2x8x256xf32>
// AUTOROWS: strategy = mma_gemm, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<129x256xf32>

// MMA: strategy = mma_gemm, vector_width = 16, tile_rows = 64, threads = 1>} : tensor<1x256xf32>
// MMA: strategy = mma_gemm, vector_width = 16, tile_rows = 64, threads = 1>} : tensor<2x2x256xf32>
// MMA: strategy = mma_gemm, vector_width = 16, tile_rows = 64, threads = 1>} : tensor<15x256xf32>
// MMA: strategy = mma_gemm, vector_width = 16, tile_rows = 64, threads = 1>} : tensor<2x8x256xf32>
// MMA: strategy = mma_gemm, vector_width = 16, tile_rows = 64, threads = 1>} : tensor<129x256xf32>
// MMA: strategy = warp_gemv, vector_width = 16, tile_rows = 2, threads = 1>} : tensor<1x256xf32>

// EXACT-COUNT-5: strategy = warp_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>}
// EXACT-NOT: mma_gemm

// WGMMA-COUNT-5: strategy = wgmma_gemm, vector_width = 16, tile_rows = 192, threads = 1>}
// WGMMA: strategy = warp_gemv, vector_width = 16, tile_rows = 2, threads = 1>} : tensor<1x256xf32>

// WGMMACHIP: error: 'r2q.matmul' op r2q-select-gpu-kernels: kernel strategy wgmma_gemm needs chip=sm_90a (wgmma.mma_async exists on sm_90a only); chip is sm_90
// WGMMACHIP100: error: 'r2q.matmul' op r2q-select-gpu-kernels: kernel strategy wgmma_gemm needs chip=sm_90a (wgmma.mma_async exists on sm_90a only); chip is sm_100a
// EXACTWGMMA: error: r2q-select-gpu-kernels: strategy wgmma_gemm rounds to f16; precision=exact takes byte_lut_gemv, warp_lut_gemv or warp_gemv

// UNKNOWN: error: r2q-select-gpu-kernels: unknown strategy 'lut_gemv'; expected auto, byte_lut_gemv, warp_lut_gemv, mma_gemm, wgmma_gemm or warp_gemv

// PRECISION: error: r2q-select-gpu-kernels: unknown precision 'half'; expected fast or exact

// EXACTMMA: error: r2q-select-gpu-kernels: strategy mma_gemm rounds to f16; precision=exact takes byte_lut_gemv, warp_lut_gemv or warp_gemv

// MMAROWS: error: 'r2q.matmul' op r2q-select-gpu-kernels: kernel strategy mma_gemm cannot compute this op: its tile_rows is 8 (mma_gemm takes 0, 64, 128 or 192 output features per block)

// OLDCHIP: error: 'r2q.matmul' op r2q-select-gpu-kernels: kernel strategy mma_gemm needs sm_80 or newer (ldmatrix, mma.sync m16n8k16); chip is sm_75

// CHIP: error: r2q-select-gpu-kernels: unknown chip 'gfx90a'; expected sm_ and a compute capability (sm_80, sm_90a, ...)

// PTX: error: r2q-select-gpu-kernels: chip sm_100 needs PTX 8.6 or newer (cubin-features=+ptx86); cubin-features is +ptx80

func.func @kernels(%x1: tensor<1x256xf32>, %x4: tensor<2x2x256xf32>, %x15: tensor<15x256xf32>,
                   %x16: tensor<2x8x256xf32>, %x129: tensor<129x256xf32>,
                   %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>)
    -> (tensor<1x16xf32>, tensor<2x2x16xf32>, tensor<15x16xf32>, tensor<2x8x16xf32>, tensor<129x16xf32>, tensor<1x16xf32>) {
  %y1 = r2q.matmul %x1, %s, %a group_size 128 : tensor<1x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<1x16xf32>
  %y4 = r2q.matmul %x4, %s, %a group_size 128 : tensor<2x2x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<2x2x16xf32>
  %y15 = r2q.matmul %x15, %s, %a group_size 128 : tensor<15x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<15x16xf32>
  %y16 = r2q.matmul %x16, %s, %a group_size 128 : tensor<2x8x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<2x8x16xf32>
  %y129 = r2q.matmul %x129, %s, %a group_size 128 : tensor<129x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<129x16xf32>
  %kept = r2q.matmul %x1, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = warp_gemv, vector_width = 16, tile_rows = 2, threads = 1>} : tensor<1x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<1x16xf32>
  return %y1, %y4, %y15, %y16, %y129, %kept : tensor<1x16xf32>, tensor<2x2x16xf32>, tensor<15x16xf32>, tensor<2x8x16xf32>, tensor<129x16xf32>, tensor<1x16xf32>
}
