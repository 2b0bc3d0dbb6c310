// RUN: r2q-opt %s --split-input-file --verify-diagnostics

func.func @unknown_strategy(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  // expected-error @+1 {{unknown kernel strategy 'lookup'; expected fused_decode, tiled_decode or vector_gemv}}
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
  // expected-error @+1 {{unknown kernel parameter 'lanes'; expected strategy, max_rows, otherwise, vector_width, tile_rows or threads}}
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
