// RUN: r2q-opt %s --split-input-file --verify-diagnostics

func.func @unknown_strategy(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{unknown kernel strategy 'lookup'; expected fused_decode, tiled_decode, vector_gemv, lut_gemv, warp_gemv, warp_lut_gemv, int8_gemm, mma_gemm, byte_lut_gemv or wgmma_gemm}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lookup>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @no_strategy(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{kernel needs a strategy}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<threads = 2>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @unknown_parameter(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{unknown kernel parameter 'lanes'; expected strategy, max_rows, otherwise, vector_width, tile_rows, threads, precision, target or layout}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, lanes = 16>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @twice(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{kernel parameter 'threads' given twice}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, threads = 2, threads = 3>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @bad_width(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{kernel vector_width must be a power of two of at least 8, got 24}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 24>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @zero_threads(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{kernel threads must be at least 1, got 0}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, threads = 0>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @negative_tile(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{kernel tile_rows must be 0 (derived) or positive, got -8}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = tiled_decode, tile_rows = -8>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @otherwise_without_rows(%x: tensor<?x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<?x40xf32> {
  // expected-error @+1 {{kernel with 'otherwise' needs max_rows of at least 1, got 0}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, otherwise = tiled_decode>} : tensor<?x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}

// -----

func.func @rows_without_otherwise(%x: tensor<?x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<?x40xf32> {
  // expected-error @+1 {{kernel max_rows needs an 'otherwise' strategy}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, max_rows = 2>} : tensor<?x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}

// -----

func.func @not_a_kernel(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{attribute 'kernel' failed to satisfy constraint}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = 3 : i64} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @unknown_precision(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{unknown kernel precision 'int4'; expected exact or fast}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv, precision = int4>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @unknown_target(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{unknown kernel target 'neon'; expected avx2 or avx512}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv, target = neon>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @precision_not_lut(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{kernel precision applies to lut_gemv only, not vector_gemv}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, precision = fast>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @target_not_x86_kernel(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{kernel target applies to lut_gemv and int8_gemm only, not tiled_decode}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = tiled_decode, target = avx512>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @int8_gemm_precision(%x: tensor<16x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<16x40xf32> {
  // expected-error @+1 {{kernel precision applies to lut_gemv only, not int8_gemm}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = int8_gemm, precision = fast>} : tensor<16x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<16x40xf32>
  return %y : tensor<16x40xf32>
}

// -----

func.func @lut_by_rows(%x: tensor<?x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<?x40xf32> {
  // expected-error @+1 {{kernel strategy lut_gemv takes a static batch: it cannot be chosen by rows (max_rows, otherwise)}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv, max_rows = 8, otherwise = tiled_decode>} : tensor<?x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}

// -----

func.func @lut_otherwise(%x: tensor<?x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<?x40xf32> {
  // expected-error @+1 {{kernel strategy lut_gemv takes a static batch: it cannot be the 'otherwise' strategy}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, max_rows = 2, otherwise = lut_gemv>} : tensor<?x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}

// -----

func.func @lut_dynamic_rows(%x: tensor<?x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<?x40xf32> {
  // expected-error @+1 {{'r2q.matmul' op kernel strategy lut_gemv cannot compute this op: its rows are dynamic (lut_gemv takes a static batch)}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<?x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}

// -----

func.func @lut_nine_rows(%x: tensor<9x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<9x40xf32> {
  // expected-error @+1 {{'r2q.matmul' op kernel strategy lut_gemv cannot compute this op: it has 9 rows (lut_gemv takes 1 to 8)}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<9x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<9x40xf32>
  return %y : tensor<9x40xf32>
}

// -----

func.func @lut_group_24(%x: tensor<1x48xf32>, %s: tensor<1x40x6xi8>, %a: tensor<1x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{'r2q.matmul' op kernel strategy lut_gemv cannot compute this op: its group size is 24 (lut_gemv takes 8 * 2^i up to 128 or a multiple of 128)}}
  %y = r2q.matmul %x, %s, %a group_size 24 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<1x48xf32>, tensor<1x40x6xi8>, tensor<1x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @int8_gemm_group_24(%x: tensor<?x48xf32>, %s: tensor<1x40x6xi8>, %a: tensor<1x40x2xf16>) -> tensor<?x40xf32> {
  // expected-error @+1 {{'r2q.matmul' op kernel strategy int8_gemm cannot compute this op: its group size is 24 (int8_gemm takes 8 * 2^i up to 128 or a multiple of 128)}}
  %y = r2q.matmul %x, %s, %a group_size 24 {kernel = #r2q.kernel<strategy = vector_gemv, max_rows = 2, otherwise = int8_gemm, target = avx512>} : tensor<?x48xf32>, tensor<1x40x6xi8>, tensor<1x40x2xf16> -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}

// -----

func.func @unknown_layout(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{unknown kernel layout 'tiled'; expected canonical or row_interleaved}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv, layout = tiled>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @layout_not_lut(%x: tensor<1x256xf32>, %s: tensor<2x3x1024xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{kernel layout row_interleaved applies to lut_gemv and byte_lut_gemv only, not tiled_decode}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = tiled_decode, layout = row_interleaved>} : tensor<1x256xf32>, tensor<2x3x1024xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

// Row-interleaved signs of N = 40, K = 256: 2 x ceil(40/16) x 1024 bytes,
// not the canonical 2 x 40 x 32.
func.func @interleaved_canonical_shape(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x3x32xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{'r2q.matmul' op signs in the row_interleaved layout must be P x ceil(N/16) x (ceil(K/512) * 1024) bytes for N = 40, K = 256: expected 'tensor<2x3x1024xi8>', got 'tensor<2x40x32xi8>'}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv, layout = row_interleaved>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x3x32xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

// K = 600 needs two 512-column steps per row: 2048 bytes per block.
func.func @interleaved_short_rows(%x: tensor<1x600xf32>, %s: tensor<2x3x1024xi8>, %a: tensor<2x3x80xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{'r2q.matmul' op signs in the row_interleaved layout must be P x ceil(N/16) x (ceil(K/512) * 1024) bytes for N = 40, K = 600: expected 'tensor<2x3x2048xi8>', got 'tensor<2x3x1024xi8>'}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv, layout = row_interleaved>} : tensor<1x600xf32>, tensor<2x3x1024xi8>, tensor<2x3x80xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

// Canonical signs where the kernel expects them interleaved is the same
// mistake the other way round: the canonical checks apply.
func.func @canonical_interleaved_shape(%x: tensor<1x256xf32>, %s: tensor<2x3x1024xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{'r2q.matmul' op signs must have one row per output feature N: expected 40, got 3}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<1x256xf32>, tensor<2x3x1024xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

// Canonical scales where the kernel expects them interleaved.
func.func @interleaved_wrong_scales(%x: tensor<1x256xf32>, %s: tensor<2x3x1024xi8>, %a: tensor<2x40x3xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{'r2q.matmul' op scales in the row_interleaved layout must be P x ceil(N/16) x (16 * ceil(K/group_size)) for N = 40, K = 256: expected 'tensor<2x3x32xf16>', got 'tensor<2x40x3xf16>'}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv, layout = row_interleaved>} : tensor<1x256xf32>, tensor<2x3x1024xi8>, tensor<2x40x3xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

func.func @interleaved_dynamic_n(%x: tensor<1x256xf32>, %s: tensor<2x3x1024xi8>, %a: tensor<2x?x2xf16>) -> tensor<1x?xf32> {
  // expected-error @+1 {{'r2q.matmul' op a weight in the row_interleaved layout needs a static N (the number of output features)}}
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv, layout = row_interleaved>} : tensor<1x256xf32>, tensor<2x3x1024xi8>, tensor<2x?x2xf16> -> tensor<1x?xf32>
  return %y : tensor<1x?xf32>
}
