// These small weights are mostly padding in the packed layout: packed with a
// max-padding that allows it.
// RUN: r2q-opt %s --split-input-file --r2q-pack-weights=max-padding=1000 | FileCheck %s
// RUN: r2q-opt %s --split-input-file --r2q-pack-weights=max-padding=1000 --r2q-pack-weights=max-padding=1000 | FileCheck %s
// With the default max-padding (1/8) only @no_padding is packed.
// RUN: r2q-opt %s --split-input-file --r2q-pack-weights | FileCheck %s --check-prefix=DEFAULT
// RUN: not r2q-opt %s --split-input-file --r2q-pack-weights=max-padding=-1 2>&1 | FileCheck %s --check-prefix=OPTION
// OPTION: r2q-pack-weights: max-padding must be a non-negative fraction, not -1

// Constant signs and scales of a lut_gemv op become its row-interleaved
// layout (docs/format.md): byte b of row j of a 16-row block at 64 b + j of
// the block's 1024-byte step, scale g of row j at 16 g + j, zeros elsewhere
// (rows past N = 3, bytes past ceil(K/8) = 2). The kernel says so; the
// canonical constants are gone. A second run changes nothing.
// CHECK-LABEL: func.func @pack_small
// DEFAULT-LABEL: func.func @pack_small
// DEFAULT-NOT: row_interleaved
// CHECK-NOT: tensor<1x3x2xi8>
// CHECK: %[[S:.*]] = arith.constant dense<"0x010305{{(00){61}0}}20406{{(00)+}}"> : tensor<1x1x1024xi8>
// CHECK-NOT: tensor<1x3x2xf16>
// CHECK: %[[A:.*]] = arith.constant dense<{{\[\[\[}}1.000000e+00, 3.000000e+00, 5.000000e+00, 0.000000e+00, {{(0.000000e\+00, ){12}()}}2.000000e+00, 4.000000e+00, 6.000000e+00, 0.000000e+00, {{(0.000000e\+00, ){11}()}}0.000000e+00]]]> : tensor<1x1x32xf16>
// CHECK: r2q.matmul %{{.*}}, %[[S]], %[[A]] group_size 8 {kernel = #r2q.kernel<strategy = lut_gemv, precision = fast, target = avx512, layout = row_interleaved, vector_width = 16, tile_rows = 16, threads = 1>}
// CHECK-SAME: tensor<1x16xf32>, tensor<1x1x1024xi8>, tensor<1x1x32xf16> -> tensor<1x3xf32>
func.func @pack_small(%x: tensor<1x16xf32>) -> tensor<1x3xf32> {
  %s = arith.constant dense<[[[1, 2], [3, 4], [5, 6]]]> : tensor<1x3x2xi8>
  %a = arith.constant dense<[[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]]> : tensor<1x3x2xf16>
  %y = r2q.matmul %x, %s, %a group_size 8 {kernel = #r2q.kernel<strategy = lut_gemv, precision = fast, target = avx512, tile_rows = 16>} : tensor<1x16xf32>, tensor<1x3x2xi8>, tensor<1x3x2xf16> -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// A splat: N = 20 is two blocks (the second one 4 rows), 2 KiB of packed
// data, which becomes a dense_resource blob.
// CHECK-LABEL: func.func @splat
// CHECK: %[[S:.*]] = arith.constant dense_resource<r2q_signs_row_interleaved> : tensor<1x2x1024xi8>
// CHECK: r2q.matmul %{{.*}}, %[[S]], %{{.*}} group_size 8 {kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx2, layout = row_interleaved,
// CHECK: r2q_signs_row_interleaved: "0x01000000{{(FF){16}(00){48}(FF){16}(00)+(FF){4}(00){60}(FF){4}(00)+}}"
func.func @splat(%x: tensor<1x16xf32>) -> tensor<1x20xf32> {
  %s = arith.constant dense<-1> : tensor<1x20x2xi8>
  %a = arith.constant dense<1.0> : tensor<1x20x2xf16>
  %y = r2q.matmul %x, %s, %a group_size 8 {kernel = #r2q.kernel<strategy = lut_gemv, tile_rows = 16>} : tensor<1x16xf32>, tensor<1x20x2xi8>, tensor<1x20x2xf16> -> tensor<1x20xf32>
  return %y : tensor<1x20xf32>
}

// -----

// Signs shared by two lut_gemv ops are packed once; an op of another
// strategy keeps reading the canonical constant, and runtime signs (a
// function argument) keep the canonical layout and kernel.
// CHECK-LABEL: func.func @shared_and_runtime
// CHECK-SAME: (%[[X:.*]]: tensor<2x16xf32>, %[[R:.*]]: tensor<1x3x2xi8>
// CHECK-DAG: %[[C:.*]] = arith.constant dense<{{\[\[\[}}1, 2], [3, 4], [5, 6]]]> : tensor<1x3x2xi8>
// CHECK-DAG: %[[P:.*]] = arith.constant dense<"0x010305{{(00)+0}}20406{{(00)+}}"> : tensor<1x1x1024xi8>
// CHECK: r2q.matmul %[[X]], %[[P]], %{{.*}} {kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx2, layout = row_interleaved,
// CHECK: r2q.matmul %[[X]], %[[P]], %{{.*}} {kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx2, layout = row_interleaved,
// CHECK: r2q.matmul %[[X]], %[[C]], %{{.*}} {kernel = #r2q.kernel<strategy = vector_gemv,
// CHECK: r2q.matmul %[[X]], %[[R]], %{{.*}} {kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx2, vector_width
// CHECK-SAME: tensor<2x16xf32>, tensor<1x3x2xi8>
// CHECK-NOT: arith.constant
func.func @shared_and_runtime(%x: tensor<2x16xf32>, %r: tensor<1x3x2xi8>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %s = arith.constant dense<[[[1, 2], [3, 4], [5, 6]]]> : tensor<1x3x2xi8>
  %a = arith.constant dense<1.0> : tensor<1x3x2xf16>
  %y = r2q.matmul %x, %s, %a group_size 8 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<2x16xf32>, tensor<1x3x2xi8>, tensor<1x3x2xf16> -> tensor<2x3xf32>
  %z = r2q.matmul %x, %s, %a group_size 8 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<2x16xf32>, tensor<1x3x2xi8>, tensor<1x3x2xf16> -> tensor<2x3xf32>
  %v = r2q.matmul %x, %s, %a group_size 8 {kernel = #r2q.kernel<strategy = vector_gemv>} : tensor<2x16xf32>, tensor<1x3x2xi8>, tensor<1x3x2xf16> -> tensor<2x3xf32>
  %w = r2q.matmul %x, %r, %a group_size 8 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<2x16xf32>, tensor<1x3x2xi8>, tensor<1x3x2xf16> -> tensor<2x3xf32>
  return %y, %z, %v, %w : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// An op without a kernel attribute is left alone (the portable default is
// not lut_gemv).
// CHECK-LABEL: func.func @no_kernel
// CHECK: arith.constant dense<{{\[\[\[}}1, 2], [3, 4], [5, 6]]]> : tensor<1x3x2xi8>
// CHECK-NOT: row_interleaved
func.func @no_kernel(%x: tensor<1x16xf32>) -> tensor<1x3xf32> {
  %s = arith.constant dense<[[[1, 2], [3, 4], [5, 6]]]> : tensor<1x3x2xi8>
  %a = arith.constant dense<1.0> : tensor<1x3x2xf16>
  %y = r2q.matmul %x, %s, %a group_size 8 : tensor<1x16xf32>, tensor<1x3x2xi8>, tensor<1x3x2xf16> -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// A dense_resource blob (2 planes of one 64-column row) is read in place;
// its packed copy is named after it: plane 0's bytes 0x11 .. 0x18 at 64 b.
// CHECK-LABEL: func.func @resource
// CHECK: %[[S:.*]] = arith.constant dense_resource<w_signs_row_interleaved> : tensor<2x1x1024xi8>
// CHECK: r2q.matmul %{{.*}}, %[[S]], %{{.*}} layout = row_interleaved
// CHECK: w_signs_row_interleaved: "0x0100000011{{(00){63}1}}2{{(00){63}1}}3
// CHECK-NOT: w_signs:
func.func @resource(%x: tensor<3x64xf32>) -> tensor<3x1xf32> {
  %s = arith.constant dense_resource<w_signs> : tensor<2x1x8xi8>
  %a = arith.constant dense<1.0> : tensor<2x1x1xf32>
  %y = r2q.matmul %x, %s, %a group_size 64 {kernel = #r2q.kernel<strategy = lut_gemv, target = avx512>} : tensor<3x64xf32>, tensor<2x1x8xi8>, tensor<2x1x1xf32> -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w_signs: "0x0100000011121314151617182122232425262728"
    }
  }
#-}

// -----

// N = 16 rows of K = 512 columns need no padding (a splat stays one):
// packed with any
// max-padding.
// CHECK-LABEL: func.func @no_padding
// CHECK: arith.constant dense<-1> : tensor<1x1x1024xi8>
// CHECK: layout = row_interleaved
// DEFAULT-LABEL: func.func @no_padding
// DEFAULT: arith.constant dense<-1> : tensor<1x1x1024xi8>
// DEFAULT: layout = row_interleaved
func.func @no_padding(%x: tensor<1x512xf32>) -> tensor<1x16xf32> {
  %s = arith.constant dense<-1> : tensor<1x16x64xi8>
  %a = arith.constant dense<1.0> : tensor<1x16x4xf16>
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<1x512xf32>, tensor<1x16x64xi8>, tensor<1x16x4xf16> -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}

// -----

// Constant signs with runtime scales (a function argument) cannot be packed
// as a whole weight: both keep the canonical layout.
// CHECK-LABEL: func.func @runtime_scales
// CHECK: arith.constant dense<{{\[\[\[}}1, 2], [3, 4], [5, 6]]]> : tensor<1x3x2xi8>
// CHECK-NOT: row_interleaved
// CHECK: return
func.func @runtime_scales(%x: tensor<1x16xf32>, %a: tensor<1x3x2xf16>) -> tensor<1x3xf32> {
  %s = arith.constant dense<[[[1, 2], [3, 4], [5, 6]]]> : tensor<1x3x2xi8>
  %y = r2q.matmul %x, %s, %a group_size 8 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<1x16xf32>, tensor<1x3x2xi8>, tensor<1x3x2xf16> -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}
