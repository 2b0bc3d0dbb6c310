// What r2q-gpu-pipeline cannot compile is reported at the op, never
// compiled wrong: the GPU kernels take a static weight shape (a dynamic
// batch runs on static ones, r2q-gpu-pipeline-dynamic-batch.mlir, but not
// with a kernel written on the op for the dynamic batch), and a CPU kernel
// written on an op is not silently replaced; mma_gemm
// takes 0, 64, 128 or 192 output features per block, byte_lut_gemv a
// multiple of 16 per warp and only weights in the row-interleaved layout;
// neither takes more rows than its grid holds.

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" --split-input-file --verify-diagnostics

func.func @dynamic_weight(%x: tensor<1x256xf32>, %s: tensor<2x?x32xi8>, %a: tensor<2x?x2xf16>) -> tensor<1x?xf32> {
  // expected-error @below {{r2q-select-gpu-kernels: no GPU kernel can compute this op: its weight's shape is dynamic}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x256xf32>, tensor<2x?x32xi8>, tensor<2x?x2xf16> -> tensor<1x?xf32>
  return %y : tensor<1x?xf32>
}

// -----

func.func @written_kernel(%x: tensor<?x256xf32>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<?x16xf32> {
  // expected-error @below {{'r2q.matmul' op kernel strategy warp_gemv cannot compute this op: its rows are dynamic (the warp kernels take a static batch)}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = warp_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

func.func @cpu_kernel(%x: tensor<1x256xf32>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<1x16xf32> {
  // expected-error @below {{r2q-select-gpu-kernels: kernel strategy vector_gemv is a CPU kernel; the GPU runs byte_lut_gemv, warp_lut_gemv, mma_gemm, wgmma_gemm or warp_gemv}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<1x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}

// -----

func.func @mma_dynamic_rows(%x: tensor<?x256xf32>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<?x16xf32> {
  // expected-error @below {{'r2q.matmul' op kernel strategy mma_gemm cannot compute this op: its rows are dynamic (the warp kernels take a static batch)}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = mma_gemm, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<?x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

func.func @mma_tile_rows(%x: tensor<32x256xf32>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<32x16xf32> {
  // expected-error @below {{'r2q.matmul' op kernel strategy mma_gemm cannot compute this op: its tile_rows is 96 (mma_gemm takes 0, 64, 128 or 192 output features per block)}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = mma_gemm, vector_width = 16, tile_rows = 96, threads = 1>} : tensor<32x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<32x16xf32>
  return %y : tensor<32x16xf32>
}

// -----

func.func @byte_lut_tile_rows(%x: tensor<1x512xf32>, %s: tensor<2x1x1024xi8>, %a: tensor<2x1x64xf16>) -> tensor<1x16xf32> {
  // expected-error @below {{'r2q.matmul' op kernel strategy byte_lut_gemv cannot compute this op: its tile_rows is 24 (byte_lut_gemv takes 0 or a multiple of 16 up to 128 output features per warp)}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = byte_lut_gemv, layout = row_interleaved, vector_width = 16, tile_rows = 24, threads = 1>} : tensor<1x512xf32>, tensor<2x1x1024xi8>, tensor<2x1x64xf16> -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}

// -----

// A runtime weight in the canonical layout cannot run byte_lut_gemv.
func.func @byte_lut_canonical(%x: tensor<1x512xf32>, %s: tensor<2x16x64xi8>, %a: tensor<2x16x4xf16>) -> tensor<1x16xf32> {
  // expected-error @below {{'r2q.matmul' op kernel strategy byte_lut_gemv reads weights in the row_interleaved layout: run r2q-pack-weights (constant weights) or pass packed weights with layout = row_interleaved}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = byte_lut_gemv, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<1x512xf32>, tensor<2x16x64xi8>, tensor<2x16x4xf16> -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}

// -----

// byte_lut_gemv runs a batch's rows as the z blocks of its grid: at most
// 65535 (a launch with more would fail at run time).
func.func @byte_lut_rows(%x: tensor<70000x512xf32>, %s: tensor<2x1x1024xi8>, %a: tensor<2x1x64xf16>) -> tensor<70000x16xf32> {
  // expected-error @below {{'r2q.matmul' op kernel strategy byte_lut_gemv cannot compute this op: it has 70000 rows (byte_lut_gemv takes 65535, one per block of a CUDA grid's z)}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = byte_lut_gemv, layout = row_interleaved, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<70000x512xf32>, tensor<2x1x1024xi8>, tensor<2x1x64xf16> -> tensor<70000x16xf32>
  return %y : tensor<70000x16xf32>
}

// -----

// mma_gemm's blocks of 64 rows are the y blocks of its grid: at most 65535.
func.func @mma_rows(%x: tensor<4194305x64xf16>, %s: tensor<2x16x8xi8>, %a: tensor<2x16x1xf16>) -> tensor<4194305x16xf32> {
  // expected-error @below {{'r2q.matmul' op kernel strategy mma_gemm cannot compute this op: it has 4194305 rows (mma_gemm takes 4194240: a CUDA grid has at most 65535 blocks of 64 rows in y; split the batch)}}
  %y = r2q.matmul %x, %s, %a group_size 64 {kernel = #r2q.kernel<strategy = mma_gemm, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<4194305x64xf16>, tensor<2x16x8xi8>, tensor<2x16x1xf16> -> tensor<4194305x16xf32>
  return %y : tensor<4194305x16xf32>
}
