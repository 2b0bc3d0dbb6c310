// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw threads=2" | FileCheck %s
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx2,+fma threads=1" | FileCheck %s --check-prefix=AVX2
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw lut-gemv=false threads=2" | FileCheck %s --check-prefix=GEMV
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f precision=fast threads=2" | FileCheck %s --check-prefix=FAST
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw,+avx512vnni precision=fast threads=2" | FileCheck %s --check-prefix=VNNI
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+sse4.2 vector-gemv=false threads=64" | FileCheck %s --check-prefix=PORTABLE
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="strategy=fused_decode vector-width=64 threads=2" | FileCheck %s --check-prefix=FORCED
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw threads=2" | r2q-opt --r2q-select-cpu-kernels="strategy=tiled_decode target-features=+avx512bw" | FileCheck %s
// RUN: not r2q-opt %s --r2q-select-cpu-kernels="strategy=lookup" 2>&1 | FileCheck %s --check-prefix=BADSTRATEGY
// RUN: not r2q-opt %s --r2q-select-cpu-kernels="vector-width=24" 2>&1 | FileCheck %s --check-prefix=BADWIDTH
// RUN: not r2q-opt %s --r2q-select-cpu-kernels="threads=-1" 2>&1 | FileCheck %s --check-prefix=BADTHREADS
// BADSTRATEGY: error: r2q-select-cpu-kernels: unknown strategy 'lookup'; expected auto, fused_decode, tiled_decode, vector_gemv, lut_gemv, warp_gemv, warp_lut_gemv, int8_gemm, mma_gemm, byte_lut_gemv or wgmma_gemm
// RUN: not r2q-opt %s --r2q-select-cpu-kernels="precision=int4" 2>&1 | FileCheck %s --check-prefix=BADPRECISION
// BADPRECISION: error: r2q-select-cpu-kernels: precision must be exact or fast, not 'int4'
// BADWIDTH: error: r2q-select-cpu-kernels: vector-width must be 0 or a power of two of at least 8, not 24
// BADTHREADS: error: r2q-select-cpu-kernels: threads must be 0 (the host's) or positive, not -1

// Batch 1 of a 4096 x 14336 layer (decoding): the table-lookup GEMV (exact
// f32 tables), for AVX-512 where the target has its byte shuffles (BW), for
// AVX2 otherwise (AVX-512F alone implies AVX2), in 16-feature blocks split
// across the threads (the layer is big enough). With lut-gemv=false the
// vector GEMV, two registers of the target wide; the int8 tables only when
// precision=fast asks.
// CHECK-LABEL: func.func @gemv_large
// CHECK: r2q.matmul {{.*}} {kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx512, vector_width = 32, tile_rows = 16, threads = 2>}
// AVX2-LABEL: func.func @gemv_large
// AVX2: {kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx2, vector_width = 16, tile_rows = 16, threads = 1>}
// GEMV-LABEL: func.func @gemv_large
// GEMV: {kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 32, tile_rows = 0, threads = 2>}
// FAST-LABEL: func.func @gemv_large
// FAST: {kernel = #r2q.kernel<strategy = lut_gemv, precision = fast, target = avx2, vector_width = 32, tile_rows = 16, threads = 2>}
// VNNI-LABEL: func.func @gemv_large
// VNNI: {kernel = #r2q.kernel<strategy = lut_gemv, precision = fast, target = avx512, vector_width = 32, tile_rows = 16, threads = 2>}
// PORTABLE-LABEL: func.func @gemv_large
// PORTABLE: {kernel = #r2q.kernel<strategy = fused_decode, vector_width = 8, tile_rows = 0, threads = 64>}
// FORCED-LABEL: func.func @gemv_large
// FORCED: {kernel = #r2q.kernel<strategy = fused_decode, vector_width = 64, tile_rows = 0, threads = 2>}
func.func @gemv_large(%x: tensor<1x14336xf32>, %s: tensor<2x4096x1792xi8>, %a: tensor<2x4096x112xf16>) -> tensor<1x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x14336xf32>, tensor<2x4096x1792xi8>, tensor<2x4096x112xf16> -> tensor<1x4096xf32>
  return %y : tensor<1x4096xf32>
}

// -----

// Batch 16 (prefill): tiled decoding, 256 KiB tiles of f32 (16 rows of K =
// 4096); a 3-D input counts its rows as 2 x 8. With precision=fast the int8
// GEMM: vpdpbusd where the target has AVX-512 VNNI and BW, vpmaddubsw and
// vpmaddwd (AVX2) otherwise, in 16-feature units per thread.
// CHECK-LABEL: func.func @gemm
// CHECK: {kernel = #r2q.kernel<strategy = tiled_decode, vector_width = 32, tile_rows = 16, threads = 2>}
// FAST-LABEL: func.func @gemm
// FAST: {kernel = #r2q.kernel<strategy = int8_gemm, target = avx2, vector_width = 32, tile_rows = 16, threads = 2>}
// VNNI-LABEL: func.func @gemm
// VNNI: {kernel = #r2q.kernel<strategy = int8_gemm, target = avx512, vector_width = 32, tile_rows = 16, threads = 2>}
// PORTABLE-LABEL: func.func @gemm
// PORTABLE: {kernel = #r2q.kernel<strategy = tiled_decode, vector_width = 8, tile_rows = 16, threads = 64>}
// FORCED-LABEL: func.func @gemm
// FORCED: {kernel = #r2q.kernel<strategy = fused_decode, vector_width = 64, tile_rows = 0, threads = 2>}
func.func @gemm(%x: tensor<2x8x4096xf32>, %s: tensor<2x11008x512xi8>, %a: tensor<2x11008x32xf16>) -> tensor<2x8x11008xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<2x8x4096xf32>, tensor<2x11008x512xi8>, tensor<2x11008x32xf16> -> tensor<2x8x11008xf32>
  return %y : tensor<2x8x11008xf32>
}

// -----

// A dynamic batch keeps the choice for run time, in the attribute: at most
// 2 rows the GEMV, more the tiled decoding (the int8 GEMM in fast
// precision).
// CHECK-LABEL: func.func @dynamic_batch
// CHECK: {kernel = #r2q.kernel<strategy = vector_gemv, max_rows = 2, otherwise = tiled_decode, vector_width = 32, tile_rows = 16, threads = 2>}
// FAST-LABEL: func.func @dynamic_batch
// FAST: {kernel = #r2q.kernel<strategy = vector_gemv, max_rows = 2, otherwise = int8_gemm, target = avx2, vector_width = 32, tile_rows = 16, threads = 2>}
// VNNI-LABEL: func.func @dynamic_batch
// VNNI: {kernel = #r2q.kernel<strategy = vector_gemv, max_rows = 2, otherwise = int8_gemm, target = avx512, vector_width = 32, tile_rows = 16, threads = 2>}
// PORTABLE-LABEL: func.func @dynamic_batch
// PORTABLE: {kernel = #r2q.kernel<strategy = fused_decode, max_rows = 2, otherwise = tiled_decode, vector_width = 8, tile_rows = 16, threads = 64>}
func.func @dynamic_batch(%x: tensor<?x4096xf32>, %s: tensor<2x4096x512xi8>, %a: tensor<2x4096x32xf16>) -> tensor<?x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x4096xf32>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<?x4096xf32>
  return %y : tensor<?x4096xf32>
}

// -----

// A small layer (40 x 256 = 10240 weights, under 65536 per thread) runs on
// one thread whatever the option says; a ragged K (576 = 4.5 groups) decodes
// 112-row tiles for 9 rows, and takes the table lookup for 8 (odd groups
// are fine); a group size of 24 is not one lut_gemv takes (the vector GEMV).
// CHECK-LABEL: func.func @small
// CHECK: {kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx512, vector_width = 32, tile_rows = 16, threads = 1>}
// GEMV-LABEL: func.func @small
// GEMV: {kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 32, tile_rows = 0, threads = 1>}
// PORTABLE-LABEL: func.func @small
// PORTABLE: threads = 1>}
// CHECK-LABEL: func.func @ragged
// CHECK: {kernel = #r2q.kernel<strategy = tiled_decode, vector_width = 32, tile_rows = 112, threads = 2>}
// CHECK: {kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx512, vector_width = 32, tile_rows = 16, threads = 2>}
// CHECK-LABEL: func.func @group_24
// CHECK: {kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 32, tile_rows = 0, threads = 1>}
func.func @small(%x: tensor<2x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<2x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<2x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<2x40xf32>
  return %y : tensor<2x40xf32>
}
func.func @ragged(%x: tensor<9x576xf32>, %x8: tensor<8x576xf32>, %s: tensor<2x1536x72xi8>, %a: tensor<2x1536x5xf16>) -> (tensor<9x1536xf32>, tensor<8x1536xf32>) {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<9x576xf32>, tensor<2x1536x72xi8>, tensor<2x1536x5xf16> -> tensor<9x1536xf32>
  %z = r2q.matmul %x8, %s, %a group_size 128 : tensor<8x576xf32>, tensor<2x1536x72xi8>, tensor<2x1536x5xf16> -> tensor<8x1536xf32>
  return %y, %z : tensor<9x1536xf32>, tensor<8x1536xf32>
}
func.func @group_24(%x: tensor<1x48xf32>, %s: tensor<1x5x6xi8>, %a: tensor<1x5x2xf16>) -> tensor<1x5xf32> {
  %y = r2q.matmul %x, %s, %a group_size 24 : tensor<1x48xf32>, tensor<1x5x6xi8>, tensor<1x5x2xf16> -> tensor<1x5xf32>
  return %y : tensor<1x5xf32>
}

// -----

// A kernel written by the user is kept, whatever the options.
// CHECK-LABEL: func.func @user_kernel
// CHECK: {kernel = #r2q.kernel<strategy = tiled_decode, vector_width = 16, tile_rows = 8, threads = 3>}
// FORCED-LABEL: func.func @user_kernel
// FORCED: {kernel = #r2q.kernel<strategy = tiled_decode, vector_width = 16, tile_rows = 8, threads = 3>}
func.func @user_kernel(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = tiled_decode, tile_rows = 8, threads = 3>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}
