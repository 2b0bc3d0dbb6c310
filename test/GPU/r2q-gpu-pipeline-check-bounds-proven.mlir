// With check-bounds=true on static shapes, LLVM proves every access of these
// kernels in bounds from their known block and grid sizes, and drops the
// checks: no __assertfail is left in their PTX (the checks were generated:
// cf.assert in the kernels after range analysis). So a kernel whose index
// math reads or writes outside a buffer on one of these shapes keeps a check
// naming the access, and fails this test without a GPU (tried: mma_gemm's
// table rows not clamped to the last feature keeps 1 check in mma_gemm's
// kernel and 2 in wgmma_gemm's, each naming the sign planes' vector.load).
// Ragged shapes: the tensor cores' kernels with 192 features a block past N,
// K past a step, 3 planes through the tables, groups of 16 and 32 columns;
// the warp kernels with batch tiles past M and K past a chunk (warp_lut_gemv
// also over three slices of chunks, tried: its table build's chunk clamped
// to one past the last whole chunk keeps a check); byte_lut_gemv
// with K past a step and on whole steps (tried: its activations read for the
// slice after the weight's last, not clamped to the last, keep the check of
// that read in its kernel). On other shapes byte_lut_gemv keeps checks that
// LLVM cannot prove (docs/reliability.md).

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa chip=sm_90a check-bounds=true" --mlir-print-ir-after=int-range-optimizations --mlir-disable-threading -o /dev/null 2>&1 | FileCheck %s --check-prefix=CHECKS
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa chip=sm_90a check-bounds=true" -o %t.ptx.mlir
// RUN: FileCheck %s --check-prefix=PTX < %t.ptx.mlir
// RUN: FileCheck %s --check-prefix=BINARIES < %t.ptx.mlir

// The kernel modules' dumps in their order (without threads: the pass
// manager runs the nested passes on them in parallel otherwise).
// CHECKS-LABEL: gpu.module @mma_kernel_0
// CHECKS: cf.assert
// CHECKS-LABEL: gpu.module @wgmma_kernel_1
// CHECKS: cf.assert
// CHECKS-LABEL: gpu.module @xor_kernel
// CHECKS: cf.assert
// CHECKS-LABEL: gpu.module @lut_kernel
// CHECKS: cf.assert
// CHECKS-LABEL: gpu.module @bytes_kernel_2
// CHECKS: cf.assert
// CHECKS-LABEL: gpu.module @steps_kernel_3
// CHECKS: cf.assert
// CHECKS-LABEL: gpu.module @lut_slices_kernel
// CHECKS: cf.assert

// BINARIES-COUNT-11: gpu.binary @{{[a-z_]+}}_kernel
// PTX-NOT: __assertfail

func.func @mma(%x: tensor<20x520xf32>, %s: tensor<3x150x65xi8>, %a: tensor<3x150x17xf16>) -> tensor<20x150xf32> {
  %y = r2q.matmul %x, %s, %a group_size 32 {kernel = #r2q.kernel<strategy = mma_gemm, vector_width = 16, tile_rows = 192, threads = 1>} : tensor<20x520xf32>, tensor<3x150x65xi8>, tensor<3x150x17xf16> -> tensor<20x150xf32>
  return %y : tensor<20x150xf32>
}

func.func @wgmma(%x: tensor<70x384xf16>, %s: tensor<2x250x48xi8>, %a: tensor<2x250x24xf32>) -> tensor<70x250xf32> {
  %y = r2q.matmul %x, %s, %a group_size 16 {kernel = #r2q.kernel<strategy = wgmma_gemm, vector_width = 16, tile_rows = 192, threads = 1>} : tensor<70x384xf16>, tensor<2x250x48xi8>, tensor<2x250x24xf32> -> tensor<70x250xf32>
  return %y : tensor<70x250xf32>
}

func.func @xor(%x: tensor<13x2600xbf16>, %s: tensor<2x77x325xi8>, %a: tensor<2x77x11xf16>) -> tensor<13x77xf32> {
  %y = r2q.matmul %x, %s, %a group_size 256 {kernel = #r2q.kernel<strategy = warp_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<13x2600xbf16>, tensor<2x77x325xi8>, tensor<2x77x11xf16> -> tensor<13x77xf32>
  return %y : tensor<13x77xf32>
}

func.func @lut(%x: tensor<3x576xf32>, %s: tensor<2x37x72xi8>, %a: tensor<2x37x5xf16>) -> tensor<3x37xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = warp_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<3x576xf32>, tensor<2x37x72xi8>, tensor<2x37x5xf16> -> tensor<3x37xf32>
  return %y : tensor<3x37xf32>
}

// byte_lut_gemv (chosen for one row of a constant weight, which the pipeline
// packs in the row-interleaved layout): K past a step with a shorter last
// group, 1000 features past a block of 16; and 3 planes with f16
// activations on whole steps, where no read of the activations is clamped.
func.func @bytes(%x: tensor<1x4000xf32>) -> tensor<1x1000xf32> {
  %s = arith.constant dense<85> : tensor<2x1000x500xi8>
  %a = arith.constant dense<1.5> : tensor<2x1000x32xf16>
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x4000xf32>, tensor<2x1000x500xi8>, tensor<2x1000x32xf16> -> tensor<1x1000xf32>
  return %y : tensor<1x1000xf32>
}

func.func @steps(%x: tensor<1x2048xf16>) -> tensor<1x100xf32> {
  %s = arith.constant dense<85> : tensor<3x100x256xi8>
  %a = arith.constant dense<1.5> : tensor<3x100x32xf16>
  %y = r2q.matmul %x, %s, %a group_size 64 : tensor<1x2048xf16>, tensor<3x100x256xi8>, tensor<3x100x32xf16> -> tensor<1x100xf32>
  return %y : tensor<1x100xf32>
}

// warp_lut_gemv over several slices of 32 chunks, the last one partial, and a
// tail past the whole chunks (K = 9000: 70 chunks of 128 columns and 40).
func.func @lut_slices(%x: tensor<5x9000xf32>, %s: tensor<2x100x1125xi8>, %a: tensor<2x100x71xf16>) -> tensor<5x100xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = warp_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<5x9000xf32>, tensor<2x100x1125xi8>, tensor<2x100x71xf16> -> tensor<5x100xf32>
  return %y : tensor<5x100xf32>
}
