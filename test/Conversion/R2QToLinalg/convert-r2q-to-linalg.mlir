// RUN: r2q-opt %s --split-input-file --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s

// With a dynamic number of rows the choice is made at run time: few rows
// decode inside the reduction (one generic over (m, n, g, b, j)), more rows
// decode the weight once per tile of output features and contract it.
// CHECK-LABEL: func.func @matmul_dynamic_rows
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xbf16>, %[[S:.*]]: tensor<2x16x32xi8>, %[[A:.*]]: tensor<2x16x2xf16>)
// CHECK: %[[M:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x256xbf16>
// CHECK: %[[FEW:.*]] = arith.cmpi ule, %[[M]], %c2 : index
// CHECK: %[[Y:.*]] = scf.if %[[FEW]] -> (tensor<?x16xf32>) {
// CHECK:   %[[ACC:.*]] = linalg.fill
// CHECK:   tensor.expand_shape %[[X]] {{\[}}[0], [1, 2, 3]] output_shape [%[[M]], 2, 16, 8] : tensor<?x256xbf16> into tensor<?x2x16x8xbf16>
// CHECK:   %[[FUSED:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]} ins({{.*}} : tensor<?x2x16x8xbf16>, tensor<16x2x16xi8>, tensor<16x2x16xi8>, tensor<16x2xf16>, tensor<16x2xf16>) outs(%[[ACC]] : tensor<?x16xf32>)
// CHECK:     linalg.index 4
// CHECK:     arith.shrui
// CHECK:     arith.select
// CHECK:     arith.mulf {{.*}} fastmath<reassoc,contract>
// CHECK:     arith.addf {{.*}} fastmath<reassoc,contract>
// CHECK:   scf.yield %[[FUSED]]
// CHECK: } else {
// CHECK:   %[[DECODED:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel"]} {{.*}} outs(%{{.*}} : tensor<16x2x16x8xf32>)
// CHECK:   %[[W:.*]] = tensor.collapse_shape %[[DECODED]] {{\[}}[0], [1, 2, 3]] : tensor<16x2x16x8xf32> into tensor<16x256xf32>
// CHECK:   %[[P:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[W]] : tensor<?x256xbf16>, tensor<16x256xf32>)
// CHECK:   %[[INSERTED:.*]] = tensor.insert_slice %[[P]]
// CHECK:   scf.yield %[[INSERTED]]
// CHECK: return %[[Y]]
func.func @matmul_dynamic_rows(%x: tensor<?x256xbf16>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<?x16xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x256xbf16>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// One static row (GEMV): the fused form only.
// CHECK-LABEL: func.func @gemv
// CHECK-NOT: scf.
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @gemv(%x: tensor<1x256xf32>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<1x16xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x256xf32>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}

// -----

// 17 static rows and a 4096-wide K: decoded in tiles of 16 output features
// (16 x 4096 f32 = 256 KiB), the last of the 40 features partial.
// CHECK-LABEL: func.func @tiled_decode
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK-DAG: %[[C40:.*]] = arith.constant 40 : index
// CHECK-NOT: scf.if
// CHECK: %[[SCRATCH:.*]] = tensor.empty() : tensor<1x16x32x16x8xf32>
// CHECK: scf.for %[[FIRST:.*]] = %{{.*}} to %[[C40]] step %[[C16]] iter_args(%[[Y:.*]] = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<17x40xf32>, tensor<16x32x16x8xf32>)
// CHECK:   %[[REST:.*]] = arith.subi %[[C40]], %[[FIRST]]
// CHECK:   %[[COUNT:.*]] = arith.minsi %[[REST]], %[[C16]]
// CHECK:   tensor.extract_slice %{{.*}}[0, %[[FIRST]], 0] [1, %[[COUNT]], 512] [1, 1, 1] : tensor<2x40x512xi8> to tensor<?x512xi8>
// CHECK:   tensor.extract_slice %[[Y]][0, %[[FIRST]]] [17, %[[COUNT]]] [1, 1]
// CHECK:   linalg.generic {{.*}} outs(%{{.*}} : tensor<?x32x16x8xf32>)
// CHECK:   linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:   tensor.insert_slice {{.*}} into %[[Y]][0, %[[FIRST]]] [17, %[[COUNT]]] [1, 1]
func.func @tiled_decode(%x: tensor<17x4096xf32>, %s: tensor<2x40x512xi8>, %a: tensor<2x40x32xf16>) -> tensor<17x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<17x4096xf32>, tensor<2x40x512xi8>, tensor<2x40x32xf16> -> tensor<17x40xf32>
  return %y : tensor<17x40xf32>
}

// -----

// A 3-D input keeps its batch loops outermost and counts 2 x ? rows; an f16
// result is rounded after the f32 accumulation.
// CHECK-LABEL: func.func @matmul_3d_f16
// CHECK: %[[ROWS:.*]] = arith.muli %{{.*}}, %c2 : index
// CHECK: %[[R:.*]] = scf.if
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: } else {
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<2x?x64xf16>, tensor<8x64xf32>)
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: return %[[R]] : tensor<2x?x8xf16>
func.func @matmul_3d_f16(%x: tensor<2x?x64xf16>, %s: tensor<1x8x8xi8>, %a: tensor<1x8x2xf32>) -> tensor<2x?x8xf16> {
  %y = r2q.matmul %x, %s, %a group_size 32 : tensor<2x?x64xf16>, tensor<1x8x8xi8>, tensor<1x8x2xf32> -> tensor<2x?x8xf16>
  return %y : tensor<2x?x8xf16>
}

// -----

// Dequantize decodes N x K over loops (n, g, b, j).
// CHECK-LABEL: func.func @dequantize
// CHECK: %[[D:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<16x2x16x8xbf16>)
// CHECK: linalg.index 3
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: %[[W:.*]] = tensor.collapse_shape %[[D]] {{\[}}[0], [1, 2, 3]] : tensor<16x2x16x8xbf16> into tensor<16x256xbf16>
// CHECK: return %[[W]]
func.func @dequantize(%s: tensor<3x16x32xi8>, %a: tensor<3x16x2xf16>) -> tensor<16x256xbf16> {
  %w = r2q.dequantize %s, %a group_size 128 : tensor<3x16x32xi8>, tensor<3x16x2xf16> -> tensor<16x256xbf16>
  return %w : tensor<16x256xbf16>
}

// -----

// One stage: f64 sums of magnitudes per group, the mean rounded to the scale
// type (kept in f32 too), the next residual, and packed sign bits.
// CHECK-LABEL: func.func @residual
// CHECK: %[[SUMS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}} : tensor<16x2x128xf32>) outs(%{{.*}} : tensor<16x2xf64>)
// CHECK: math.absf
// CHECK: arith.extf %{{.*}} : f32 to f64
// CHECK: %[[SCALES:.*]]:2 = linalg.generic {{.*}} ins(%[[SUMS]] : tensor<16x2xf64>) outs(%{{.*}}, %{{.*}} : tensor<16x2xf16>, tensor<16x2xf32>)
// CHECK: arith.divf
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: %[[NEXT:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[SCALES]]#1 : tensor<16x2x128xf32>, tensor<16x2xf32>)
// CHECK: arith.subf
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[NEXT]]
// CHECK: %[[SIGNS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}} : tensor<16x32x8xf32>) outs(%{{.*}} : tensor<16x32xi8>)
// CHECK: arith.cmpf olt
// CHECK: arith.shli
// CHECK: arith.ori
// CHECK: return %[[SIGNS]], %[[SCALES]]#0, %[[FLAT]]
func.func @residual(%r: tensor<16x256xf32>) -> (tensor<16x32xi8>, tensor<16x2xf16>, tensor<16x256xf32>) {
  %s, %a, %n = r2q.residual %r group_size 128 : tensor<16x256xf32> -> tensor<16x32xi8>, tensor<16x2xf16>, tensor<16x256xf32>
  return %s, %a, %n : tensor<16x32xi8>, tensor<16x2xf16>, tensor<16x256xf32>
}

// -----

// Greedy quantization of a runtime weight lowers through its stages.
// CHECK-LABEL: func.func @quantize
// CHECK-NOT: r2q.
// CHECK-COUNT-2: tensor.insert_slice {{.*}} : tensor<16x32xi8> into tensor<2x16x32xi8>
func.func @quantize(%w: tensor<16x256xf32>) -> (tensor<2x16x32xi8>, tensor<2x16x2xf16>) {
  %s, %a = r2q.quantize %w scheme <group_size = 128> : tensor<16x256xf32>
  return %s, %a : tensor<2x16x32xi8>, tensor<2x16x2xf16>
}


// -----

// K = 13, G = 8: the whole group and the shorter last group (5 columns,
// decoded up to its whole byte) reduce one after the other into the same
// accumulator; the last group's activations are zero-padded from 5 to 8
// columns, so the padding bits of the last sign byte multiply zeros.
// CHECK-LABEL: func.func @gemv_ragged
// CHECK-SAME: (%[[X:.*]]: tensor<1x13xf32>, %[[S:.*]]: tensor<2x5x2xi8>, %[[A:.*]]: tensor<2x5x2xf16>)
// CHECK: %[[HEAD:.*]] = tensor.extract_slice %[[X]][0, 0] [1, 8] [1, 1] : tensor<1x13xf32> to tensor<1x8xf32>
// CHECK: %[[TAIL:.*]] = tensor.extract_slice %[[X]][0, 8] [1, 5] [1, 1] : tensor<1x13xf32> to tensor<1x5xf32>
// CHECK: %[[ZEROS:.*]] = linalg.fill {{.*}} -> tensor<1x8xf32>
// CHECK: %[[PADDED:.*]] = tensor.insert_slice %[[TAIL]] into %[[ZEROS]][0, 0] [1, 5] [1, 1] : tensor<1x5xf32> into tensor<1x8xf32>
// CHECK-DAG: tensor.extract_slice %[[S]][0, 0, 0] [1, 5, 1] [1, 1, 1] : tensor<2x5x2xi8> to tensor<5x1xi8>
// CHECK-DAG: tensor.extract_slice %[[S]][0, 0, 1] [1, 5, 1] [1, 1, 1] : tensor<2x5x2xi8> to tensor<5x1xi8>
// CHECK-DAG: tensor.extract_slice %[[A]][0, 0, 1] [1, 5, 1] [1, 1, 1] : tensor<2x5x2xf16> to tensor<5x1xf16>
// CHECK: %[[FIRST:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]
// CHECK: %[[LAST:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]{{.*}} outs(%[[FIRST]] : tensor<1x5xf32>)
// CHECK: return %[[LAST]]
func.func @gemv_ragged(%x: tensor<1x13xf32>, %s: tensor<2x5x2xi8>, %a: tensor<2x5x2xf16>) -> tensor<1x5xf32> {
  %y = r2q.matmul %x, %s, %a group_size 8 : tensor<1x13xf32>, tensor<2x5x2xi8>, tensor<2x5x2xf16> -> tensor<1x5xf32>
  return %y : tensor<1x5xf32>
}

// -----

// K = 100, G = 32: three whole groups from sign bytes 0-11 and scales 0-2,
// the last group of 4 columns from byte 12 and scale 3, decoded to 8 columns
// of which 4 are kept.
// CHECK-LABEL: func.func @dequantize_ragged
// CHECK-DAG: tensor.extract_slice %{{.*}}[0, 0, 0] [1, 5, 12] [1, 1, 1] : tensor<2x5x13xi8> to tensor<5x12xi8>
// CHECK-DAG: tensor.extract_slice %{{.*}}[0, 0, 0] [1, 5, 3] [1, 1, 1] : tensor<2x5x4xf16> to tensor<5x3xf16>
// CHECK-DAG: tensor.extract_slice %{{.*}}[0, 0, 12] [1, 5, 1] [1, 1, 1] : tensor<2x5x13xi8> to tensor<5x1xi8>
// CHECK-DAG: tensor.extract_slice %{{.*}}[0, 0, 3] [1, 5, 1] [1, 1, 1] : tensor<2x5x4xf16> to tensor<5x1xf16>
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<5x3x4x8xf32>)
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<5x1x1x8xf32>)
// CHECK: %[[KEPT:.*]] = tensor.extract_slice %{{.*}}[0, 0] [5, 4] [1, 1] : tensor<5x8xf32> to tensor<5x4xf32>
// CHECK: %[[WHOLE:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [5, 96] [1, 1] : tensor<5x96xf32> into tensor<5x100xf32>
// CHECK: %[[ALL:.*]] = tensor.insert_slice %[[KEPT]] into %[[WHOLE]][0, 96] [5, 4] [1, 1] : tensor<5x4xf32> into tensor<5x100xf32>
// CHECK: return %[[ALL]]
func.func @dequantize_ragged(%s: tensor<2x5x13xi8>, %a: tensor<2x5x4xf16>) -> tensor<5x100xf32> {
  %w = r2q.dequantize %s, %a group_size 32 : tensor<2x5x13xi8>, tensor<2x5x4xf16> -> tensor<5x100xf32>
  return %w : tensor<5x100xf32>
}

// -----

// K = 13, G = 8: the last group's mean divides by its 5 columns, not by 8;
// the sign bytes are packed from the residual zero-padded to 16 columns.
// CHECK-LABEL: func.func @residual_ragged
// CHECK-DAG: %[[FIVE:.*]] = arith.constant 5.000000e+00 : f64
// CHECK-DAG: %[[EIGHT:.*]] = arith.constant 8.000000e+00 : f64
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<5x1x8xf32>) outs(%{{.*}} : tensor<5x1xf64>)
// CHECK: arith.divf %{{.*}}, %[[EIGHT]] : f64
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<5x1x5xf32>) outs(%{{.*}} : tensor<5x1xf64>)
// CHECK: arith.divf %{{.*}}, %[[FIVE]] : f64
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [5, 13] [1, 1] : tensor<5x13xf32> into tensor<5x16xf32>
// CHECK: %[[SIGNS:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<5x2x8xf32>) outs(%{{.*}} : tensor<5x2xi8>)
// CHECK: %[[A0:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [5, 1] [1, 1] : tensor<5x1xf16> into tensor<5x2xf16>
// CHECK: %[[A1:.*]] = tensor.insert_slice %{{.*}} into %[[A0]][0, 1] [5, 1] [1, 1] : tensor<5x1xf16> into tensor<5x2xf16>
// CHECK: %[[N0:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [5, 8] [1, 1] : tensor<5x8xf32> into tensor<5x13xf32>
// CHECK: %[[N1:.*]] = tensor.insert_slice %{{.*}} into %[[N0]][0, 8] [5, 5] [1, 1] : tensor<5x5xf32> into tensor<5x13xf32>
// CHECK: return %[[SIGNS]], %[[A1]], %[[N1]]
func.func @residual_ragged(%r: tensor<5x13xf32>) -> (tensor<5x2xi8>, tensor<5x2xf16>, tensor<5x13xf32>) {
  %s, %a, %n = r2q.residual %r group_size 8 : tensor<5x13xf32> -> tensor<5x2xi8>, tensor<5x2xf16>, tensor<5x13xf32>
  return %s, %a, %n : tensor<5x2xi8>, tensor<5x2xf16>, tensor<5x13xf32>
}

// -----

// More rows, K = 576 = 4.5 x 128: each tile decodes and contracts its whole
// groups (512 columns) and its shorter last group (64 columns) one after
// the other; the decoded tile is never copied into a 576-wide one. (The 40
// rows fit one tile, so the tile loop folds away.)
// CHECK-LABEL: func.func @tiled_ragged
// CHECK-SAME: (%[[X:.*]]: tensor<17x576xf32>
// CHECK: %[[HEAD:.*]] = tensor.extract_slice %[[X]][0, 0] [17, 512] [1, 1] : tensor<17x576xf32> to tensor<17x512xf32>
// CHECK: %[[TAIL:.*]] = tensor.extract_slice %[[X]][0, 512] [17, 64] [1, 1] : tensor<17x576xf32> to tensor<17x64xf32>
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<40x4x16x8xf32>)
// CHECK: %[[Y0:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[HEAD]], %{{.*}} : tensor<17x512xf32>, tensor<40x512xf32>)
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<40x1x8x8xf32>)
// CHECK: %[[Y1:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[TAIL]], %{{.*}} : tensor<17x64xf32>, tensor<40x64xf32>) outs(%[[Y0]] : tensor<17x40xf32>)
// CHECK: return %[[Y1]]
func.func @tiled_ragged(%x: tensor<17x576xf32>, %s: tensor<2x40x72xi8>, %a: tensor<2x40x5xf16>) -> tensor<17x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<17x576xf32>, tensor<2x40x72xi8>, tensor<2x40x5xf16> -> tensor<17x40xf32>
  return %y : tensor<17x40xf32>
}
