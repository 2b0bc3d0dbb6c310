// RUN: r2q-opt %s --split-input-file --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s

// CHECK-DAG: #[[$SIGN_MAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-DAG: #[[$SCALE_MAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
// CHECK-DAG: #[[$X_MAP:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[$W_MAP:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$Y_MAP:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>

// The weight is decoded N x K over loops (n, g, b, j), then contracted over
// (m, n, k) in f32; bf16 activations are widened in the body.
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xbf16>, %[[S:.*]]: tensor<2x16x32xi8>, %[[A:.*]]: tensor<2x16x2xf16>)
// CHECK: %[[S0:.*]] = tensor.extract_slice %[[S]][0, 0, 0] [1, 16, 32] [1, 1, 1] : tensor<2x16x32xi8> to tensor<16x32xi8>
// CHECK: tensor.expand_shape %[[S0]] {{\[}}[0], [1, 2]] output_shape [16, 2, 16] : tensor<16x32xi8> into tensor<16x2x16xi8>
// CHECK: %[[DECODED:.*]] = linalg.generic {indexing_maps = [#[[$SIGN_MAP]], #[[$SIGN_MAP]], #[[$SCALE_MAP]], #[[$SCALE_MAP]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
// CHECK-SAME: outs(%{{.*}} : tensor<16x2x16x8xf32>)
// CHECK: linalg.index 3
// CHECK: arith.shrui
// CHECK: arith.select
// CHECK: %[[W:.*]] = tensor.collapse_shape %[[DECODED]] {{\[}}[0], [1, 2, 3]] : tensor<16x2x16x8xf32> into tensor<16x256xf32>
// CHECK: %[[ACC:.*]] = linalg.fill
// CHECK: %[[Y:.*]] = linalg.generic {indexing_maps = [#[[$X_MAP]], #[[$W_MAP]], #[[$Y_MAP]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[W]] : tensor<?x256xbf16>, tensor<16x256xf32>) outs(%[[ACC]] : tensor<?x16xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.mulf {{.*}} fastmath<reassoc,contract>
// CHECK: arith.addf {{.*}} fastmath<reassoc,contract>
// CHECK: return %[[Y]]
func.func @matmul(%x: tensor<?x256xbf16>, %s: tensor<2x16x32xi8>, %a: tensor<2x16x2xf16>) -> tensor<?x16xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x256xbf16>, tensor<2x16x32xi8>, tensor<2x16x2xf16> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A 3-D input keeps its batch loops outermost; an f16 result is rounded
// after the f32 accumulation.
// CHECK-LABEL: func.func @matmul_3d_f16
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<2x?x64xf16>, tensor<8x64xf32>) outs(%{{.*}} : tensor<2x?x8xf32>)
// CHECK: %[[R:.*]] = linalg.generic
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
// type (kept in f32 too), packed sign bits, and the next residual.
// CHECK-LABEL: func.func @residual
// CHECK: %[[SUMS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}} : tensor<16x2x128xf32>) outs(%{{.*}} : tensor<16x2xf64>)
// CHECK: math.absf
// CHECK: arith.extf %{{.*}} : f32 to f64
// CHECK: %[[SCALES:.*]]:2 = linalg.generic {{.*}} ins(%[[SUMS]] : tensor<16x2xf64>) outs(%{{.*}}, %{{.*}} : tensor<16x2xf16>, tensor<16x2xf32>)
// CHECK: arith.divf
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: %[[SIGNS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}} : tensor<16x32x8xf32>) outs(%{{.*}} : tensor<16x32xi8>)
// CHECK: arith.cmpf olt
// CHECK: arith.shli
// CHECK: arith.ori
// CHECK: %[[NEXT:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[SCALES]]#1 : tensor<16x2x128xf32>, tensor<16x2xf32>)
// CHECK: arith.subf
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[NEXT]]
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

