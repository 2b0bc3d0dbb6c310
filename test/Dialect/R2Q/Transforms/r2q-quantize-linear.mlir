// RUN: r2q-opt %s --split-input-file --r2q-quantize-linear="group-size=8 scale-type=f32" | FileCheck %s

// The Torch-MLIR form: transpose of an N x K weight, zero fill, matmul. The
// weight row [0.5, -1, 2, 0, 1.5, -0.25, 3, -2] is worked by hand in
// test/Dialect/R2Q/canonicalize.mlir; a row of ones has a1 = 1, a2 = 0.
// CHECK-LABEL: func.func @torch_linear
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-DAG: %[[S:.*]] = arith.constant dense<{{\[}}{{\[}}[-94], [0]], {{\[}}[-119], [0]]]> : tensor<2x2x1xi8>
// CHECK-DAG: %[[A:.*]] = arith.constant dense<{{\[}}{{\[}}[1.281250e+00], [1.000000e+00]], {{\[}}[8.437500e-01], [0.000000e+00]]]> : tensor<2x2x1xf32>
// CHECK: %[[Y:.*]] = r2q.matmul %[[X]], %[[S]], %[[A]] group_size 8 : tensor<4x8xf32>, tensor<2x2x1xi8>, tensor<2x2x1xf32> -> tensor<4x2xf32>
// CHECK-NOT: linalg.
// CHECK: return %[[Y]]
func.func @torch_linear(%x: tensor<4x8xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, -2.0],
                             [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]> : tensor<2x8xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x8xf32>) outs(%e : tensor<8x2xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<4x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x8xf32>, tensor<8x2xf32>) outs(%acc : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// The same weight stored K x N and read directly: quantized along K all the
// same, so the constants are identical.
// CHECK-LABEL: func.func @weight_stored_k_by_n
// CHECK-DAG: arith.constant dense<{{\[}}{{\[}}[-94], [0]], {{\[}}[-119], [0]]]> : tensor<2x2x1xi8>
// CHECK: r2q.matmul
// CHECK-NOT: linalg.matmul
func.func @weight_stored_k_by_n(%x: tensor<4x8xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[0.5, 1.0], [-1.0, 1.0], [2.0, 1.0], [0.0, 1.0], [1.5, 1.0], [-0.25, 1.0], [3.0, 1.0], [-2.0, 1.0]]> : tensor<8x2xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<4x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x2xf32>) outs(%acc : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// linalg.matmul with indexing_maps reading the N x K weight, dynamic batch.
// CHECK-LABEL: func.func @matmul_indexing_maps
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>)
// CHECK: %[[Y:.*]] = r2q.matmul %[[X]], %{{.*}}, %{{.*}} group_size 8 : tensor<?x16xf32>, tensor<2x4x2xi8>, tensor<2x4x2xf32> -> tensor<?x4xf32>
// CHECK-NOT: linalg.matmul
// CHECK: return %[[Y]]
func.func @matmul_indexing_maps(%x: tensor<?x16xf32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<0.25> : tensor<4x16xf32>
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x16xf32>
  %o = tensor.empty(%m) : tensor<?x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<?x16xf32>, tensor<4x16xf32>) outs(%acc : tensor<?x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// A contraction written as linalg.generic.
// CHECK-LABEL: func.func @contraction_generic
// CHECK: r2q.matmul %{{.*}} group_size 8 : tensor<3x16xf32>, tensor<2x5x2xi8>, tensor<2x5x2xf32> -> tensor<3x5xf32>
// CHECK-NOT: linalg.generic
func.func @contraction_generic(%x: tensor<3x16xf32>) -> tensor<3x5xf32> {
  %w = arith.constant dense<-0.5> : tensor<5x16xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<3x5xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<3x5xf32>) -> tensor<3x5xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<3x16xf32>, tensor<5x16xf32>) outs(%acc : tensor<3x5xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<3x5xf32>
  return %y : tensor<3x5xf32>
}

// -----

// linalg.contract.
// CHECK-LABEL: func.func @contract
// CHECK: r2q.matmul %{{.*}} group_size 8 : tensor<2x16xf32>, tensor<2x3x2xi8>, tensor<2x3x2xf32> -> tensor<2x3xf32>
// CHECK-NOT: linalg.contract
func.func @contract(%x: tensor<2x16xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<1.5> : tensor<3x16xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<2x3xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.contract indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<2x16xf32>, tensor<3x16xf32>) outs(%acc : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// linalg.batch_matmul with the transposed weight broadcast over the batch:
// the batch dimension leads the r2q.matmul input and result.
// CHECK-LABEL: func.func @batch_matmul_broadcast
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x16xf32>)
// CHECK: %[[Y:.*]] = r2q.matmul %[[X]], %{{.*}}, %{{.*}} group_size 8 : tensor<2x?x16xf32>, tensor<2x6x2xi8>, tensor<2x6x2xf32> -> tensor<2x?x6xf32>
// CHECK-NOT: linalg.broadcast
// CHECK-NOT: linalg.batch_matmul
// CHECK: return %[[Y]]
func.func @batch_matmul_broadcast(%x: tensor<2x?x16xf32>) -> tensor<2x?x6xf32> {
  %w = arith.constant dense<0.75> : tensor<6x16xf32>
  %zero = arith.constant 0.0 : f32
  %c1 = arith.constant 1 : index
  %s = tensor.dim %x, %c1 : tensor<2x?x16xf32>
  %e = tensor.empty() : tensor<16x6xf32>
  %wt = linalg.transpose ins(%w : tensor<6x16xf32>) outs(%e : tensor<16x6xf32>) permutation = [1, 0]
  %eb = tensor.empty() : tensor<2x16x6xf32>
  %wb = linalg.broadcast ins(%wt : tensor<16x6xf32>) outs(%eb : tensor<2x16x6xf32>) dimensions = [0]
  %o = tensor.empty(%s) : tensor<2x?x6xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x?x6xf32>) -> tensor<2x?x6xf32>
  %y = linalg.batch_matmul ins(%x, %wb : tensor<2x?x16xf32>, tensor<2x16x6xf32>) outs(%acc : tensor<2x?x6xf32>) -> tensor<2x?x6xf32>
  return %y : tensor<2x?x6xf32>
}

// -----

// A 3-D activation collapsed for a 2-D matmul and expanded back: the
// reshapes stay, the matmul goes.
// CHECK-LABEL: func.func @collapsed_activation
// CHECK: tensor.collapse_shape
// CHECK: r2q.matmul %{{.*}} : tensor<?x16xf32>, tensor<2x4x2xi8>, tensor<2x4x2xf32> -> tensor<?x4xf32>
// CHECK: tensor.expand_shape
func.func @collapsed_activation(%x: tensor<2x?x16xf32>) -> tensor<2x?x4xf32> {
  %w = arith.constant dense<0.5> : tensor<4x16xf32>
  %zero = arith.constant 0.0 : f32
  %c1 = arith.constant 1 : index
  %s = tensor.dim %x, %c1 : tensor<2x?x16xf32>
  %flat = tensor.collapse_shape %x [[0, 1], [2]] : tensor<2x?x16xf32> into tensor<?x16xf32>
  %e = tensor.empty() : tensor<16x4xf32>
  %wt = linalg.transpose ins(%w : tensor<4x16xf32>) outs(%e : tensor<16x4xf32>) permutation = [1, 0]
  %c0 = arith.constant 0 : index
  %m = tensor.dim %flat, %c0 : tensor<?x16xf32>
  %o = tensor.empty(%m) : tensor<?x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = linalg.matmul ins(%flat, %wt : tensor<?x16xf32>, tensor<16x4xf32>) outs(%acc : tensor<?x4xf32>) -> tensor<?x4xf32>
  %r = tensor.expand_shape %y [[0, 1], [2]] output_shape [2, %s, 4] : tensor<?x4xf32> into tensor<2x?x4xf32>
  return %r : tensor<2x?x4xf32>
}

// -----

// bf16 activations and weights accumulated in f32, then truncated: the
// truncation stays, the weight keeps its bf16 data for quantization.
// CHECK-LABEL: func.func @bf16_f32_accumulation
// CHECK-SAME: (%[[X:.*]]: tensor<4x16xbf16>)
// CHECK: %[[Y:.*]] = r2q.matmul %[[X]], %{{.*}}, %{{.*}} group_size 8 : tensor<4x16xbf16>, tensor<2x8x2xi8>, tensor<2x8x2xf32> -> tensor<4x8xf32>
// CHECK: linalg.generic {{.*}} ins(%[[Y]] : tensor<4x8xf32>)
// CHECK: arith.truncf
func.func @bf16_f32_accumulation(%x: tensor<4x16xbf16>) -> tensor<4x8xbf16> {
  %w = arith.constant dense<0.125> : tensor<8x16xbf16>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x8xbf16>
  %wt = linalg.transpose ins(%w : tensor<8x16xbf16>) outs(%e : tensor<16x8xbf16>) permutation = [1, 0]
  %o = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x16xbf16>, tensor<16x8xbf16>) outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %t = tensor.empty() : tensor<4x8xbf16>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%y : tensor<4x8xf32>) outs(%t : tensor<4x8xbf16>) {
  ^bb0(%in: f32, %out: bf16):
    %v = arith.truncf %in : f32 to bf16
    linalg.yield %v : bf16
  } -> tensor<4x8xbf16>
  return %r : tensor<4x8xbf16>
}

// -----

// f16 activations and weights with an f16 accumulator: the r2q.matmul
// accumulates in f32 and rounds its result to f16.
// CHECK-LABEL: func.func @f16_layer
// CHECK: r2q.matmul %{{.*}} group_size 8 : tensor<3x16xf16>, tensor<2x8x2xi8>, tensor<2x8x2xf32> -> tensor<3x8xf16>
// CHECK-NOT: linalg.matmul
func.func @f16_layer(%x: tensor<3x16xf16>) -> tensor<3x8xf16> {
  %w = arith.constant dense<0.125> : tensor<8x16xf16>
  %zero = arith.constant 0.0 : f16
  %e = tensor.empty() : tensor<16x8xf16>
  %wt = linalg.transpose ins(%w : tensor<8x16xf16>) outs(%e : tensor<16x8xf16>) permutation = [1, 0]
  %o = tensor.empty() : tensor<3x8xf16>
  %acc = linalg.fill ins(%zero : f16) outs(%o : tensor<3x8xf16>) -> tensor<3x8xf16>
  %y = linalg.matmul ins(%x, %wt : tensor<3x16xf16>, tensor<16x8xf16>) outs(%acc : tensor<3x8xf16>) -> tensor<3x8xf16>
  return %y : tensor<3x8xf16>
}

// -----

// Torch-MLIR's bf16 layers with bias widen the transposed weight with an
// extf generic before an all-f32 matmul: the widening is seen through.
// CHECK-LABEL: func.func @bf16_widened_weight
// CHECK: r2q.matmul %{{.*}} : tensor<4x16xf32>, tensor<2x8x2xi8>, tensor<2x8x2xf32> -> tensor<4x8xf32>
// CHECK-NOT: arith.extf
func.func @bf16_widened_weight(%x: tensor<4x16xf32>) -> tensor<4x8xf32> {
  %w = arith.constant dense<0.125> : tensor<8x16xbf16>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x8xbf16>
  %wt = linalg.transpose ins(%w : tensor<8x16xbf16>) outs(%e : tensor<16x8xbf16>) permutation = [1, 0]
  %ef = tensor.empty() : tensor<16x8xf32>
  %wf = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%wt : tensor<16x8xbf16>) outs(%ef : tensor<16x8xf32>) {
  ^bb0(%in: bf16, %out: f32):
    %v = arith.extf %in : bf16 to f32
    linalg.yield %v : f32
  } -> tensor<16x8xf32>
  %o = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.matmul ins(%x, %wf : tensor<4x16xf32>, tensor<16x8xf32>) outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The weight as the left operand: y^T = W x^T. The activation is transposed
// to put K innermost and the r2q.matmul result transposed back.
// CHECK-LABEL: func.func @weight_on_the_left
// CHECK-SAME: (%[[XT:.*]]: tensor<16x3xf32>)
// CHECK: %[[X:.*]] = linalg.transpose ins(%[[XT]] : tensor<16x3xf32>) outs(%{{.*}} : tensor<3x16xf32>) permutation = [1, 0]
// CHECK: %[[Y:.*]] = r2q.matmul %[[X]], %{{.*}}, %{{.*}} : tensor<3x16xf32>, tensor<2x5x2xi8>, tensor<2x5x2xf32> -> tensor<3x5xf32>
// CHECK: %[[YT:.*]] = linalg.transpose ins(%[[Y]] : tensor<3x5xf32>) outs(%{{.*}} : tensor<5x3xf32>) permutation = [1, 0]
// CHECK: return %[[YT]]
func.func @weight_on_the_left(%xt: tensor<16x3xf32>) -> tensor<5x3xf32> {
  %w = arith.constant dense<0.5> : tensor<5x16xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<5x3xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<5x3xf32>) -> tensor<5x3xf32>
  %y = linalg.matmul ins(%w, %xt : tensor<5x16xf32>, tensor<16x3xf32>) outs(%acc : tensor<5x3xf32>) -> tensor<5x3xf32>
  return %y : tensor<5x3xf32>
}

// -----

// An argument marked as a weight is quantized when the function runs.
// CHECK-LABEL: func.func @argument_weight
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[W:.*]]: tensor<4x16xf32> {r2q.weight})
// CHECK: %[[S:.*]], %[[A:.*]] = r2q.quantize %[[W]] scheme <group_size = 8, planes = 2, method = greedy, scale_type = f32> : tensor<4x16xf32>
// CHECK: r2q.matmul %[[X]], %[[S]], %[[A]] group_size 8
func.func @argument_weight(%x: tensor<?x16xf32>, %w: tensor<4x16xf32> {r2q.weight}) -> tensor<?x4xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x16xf32>
  %e = tensor.empty() : tensor<16x4xf32>
  %wt = linalg.transpose ins(%w : tensor<4x16xf32>) outs(%e : tensor<16x4xf32>) permutation = [1, 0]
  %o = tensor.empty(%m) : tensor<?x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<?x16xf32>, tensor<16x4xf32>) outs(%acc : tensor<?x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// A K x N argument weight is transposed before it is quantized.
// CHECK-LABEL: func.func @argument_weight_k_by_n
// CHECK-SAME: (%[[X:.*]]: tensor<2x16xf32>, %[[W:.*]]: tensor<16x4xf32> {r2q.weight})
// CHECK: %[[WT:.*]] = linalg.transpose ins(%[[W]] : tensor<16x4xf32>) outs(%{{.*}} : tensor<4x16xf32>) permutation = [1, 0]
// CHECK: r2q.quantize %[[WT]] scheme
func.func @argument_weight_k_by_n(%x: tensor<2x16xf32>, %w: tensor<16x4xf32> {r2q.weight}) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x16xf32>, tensor<16x4xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// The weight through tensor.cast and a unit-dimension expand_shape.
// CHECK-LABEL: func.func @cast_and_unit_reshape
// CHECK: r2q.matmul %{{.*}} : tensor<2x16xf32>, tensor<2x4x2xi8>, tensor<2x4x2xf32> -> tensor<2x4xf32>
// CHECK-NOT: tensor.cast
// CHECK-NOT: tensor.expand_shape
func.func @cast_and_unit_reshape(%x: tensor<2x16xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<0.5> : tensor<16x4xf32>
  %wc = tensor.cast %w : tensor<16x4xf32> to tensor<?x4xf32>
  %wd = tensor.cast %wc : tensor<?x4xf32> to tensor<16x4xf32>
  %w3 = tensor.expand_shape %wd [[0, 1], [2]] output_shape [1, 16, 4] : tensor<16x4xf32> into tensor<1x16x4xf32>
  %w2 = tensor.collapse_shape %w3 [[0, 1], [2]] : tensor<1x16x4xf32> into tensor<16x4xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %w2 : tensor<2x16xf32>, tensor<16x4xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// A non-zero accumulator (here the bias) is added to the product.
// CHECK-LABEL: func.func @accumulate_into_bias
// CHECK-SAME: (%[[X:.*]]: tensor<2x16xf32>, %[[B:.*]]: tensor<2x4xf32>)
// CHECK: %[[Y:.*]] = r2q.matmul %[[X]]
// CHECK: %[[R:.*]] = linalg.add ins(%[[Y]], %[[B]] : tensor<2x4xf32>, tensor<2x4xf32>) outs(%[[B]] : tensor<2x4xf32>)
// CHECK: return %[[R]]
func.func @accumulate_into_bias(%x: tensor<2x16xf32>, %b: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<0.5> : tensor<16x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x16xf32>, tensor<16x4xf32>) outs(%b : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// An activation whose K is dynamic is cast to the weight's static K (the
// contraction already requires them to agree).
// CHECK-LABEL: func.func @dynamic_k_activation
// CHECK-SAME: (%[[X:.*]]: tensor<?x?xf32>)
// CHECK: %[[XK:.*]] = tensor.cast %[[X]] : tensor<?x?xf32> to tensor<?x16xf32>
// CHECK: r2q.matmul %[[XK]], %{{.*}}, %{{.*}} group_size 8 : tensor<?x16xf32>
func.func @dynamic_k_activation(%x: tensor<?x?xf32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<0.25> : tensor<4x16xf32>
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x?xf32>
  %o = tensor.empty(%m) : tensor<?x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<?x?xf32>, tensor<4x16xf32>) outs(%acc : tensor<?x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// A single-output weight (N = 1) seen through a reshape of unit dimensions is
// still the weight; the static activation argument is not.
// CHECK-LABEL: func.func @single_output_feature
// CHECK-SAME: (%[[X:.*]]: tensor<5x16xf32>)
// CHECK-NOT: r2q.quantize
// CHECK: r2q.matmul %[[X]], %{{.*}}, %{{.*}} group_size 8 : tensor<5x16xf32>, tensor<2x1x2xi8>, tensor<2x1x2xf32> -> tensor<5x1xf32>
func.func @single_output_feature(%x: tensor<5x16xf32>) -> tensor<5x1xf32> {
  %w = arith.constant dense<0.5> : tensor<16x1xf32>
  %w3 = tensor.expand_shape %w [[0], [1, 2]] output_shape [16, 1, 1] : tensor<16x1xf32> into tensor<16x1x1xf32>
  %w2 = tensor.collapse_shape %w3 [[0], [1, 2]] : tensor<16x1x1xf32> into tensor<16x1xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<5x1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<5x1xf32>) -> tensor<5x1xf32>
  %y = linalg.matmul ins(%x, %w2 : tensor<5x16xf32>, tensor<16x1xf32>) outs(%acc : tensor<5x1xf32>) -> tensor<5x1xf32>
  return %y : tensor<5x1xf32>
}

// -----

// One weight feeding two layers is quantized once.
// CHECK-LABEL: func.func @shared_weight
// CHECK-COUNT-2: arith.constant dense
// CHECK-NOT: arith.constant dense
// CHECK-COUNT-2: r2q.matmul
func.func @shared_weight(%x: tensor<2x16xf32>, %z: tensor<3x16xf32>) -> (tensor<2x4xf32>, tensor<3x4xf32>) {
  %w = arith.constant dense<[[0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, -2.0, 0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, -2.0],
                             [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                             [0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, -2.0, 0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, -2.0],
                             [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]> : tensor<4x16xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x4xf32>
  %wt = linalg.transpose ins(%w : tensor<4x16xf32>) outs(%e : tensor<16x4xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<2x16xf32>, tensor<16x4xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  %o2 = tensor.empty() : tensor<3x4xf32>
  %acc2 = linalg.fill ins(%zero : f32) outs(%o2 : tensor<3x4xf32>) -> tensor<3x4xf32>
  %y2 = linalg.matmul ins(%z, %wt : tensor<3x16xf32>, tensor<16x4xf32>) outs(%acc2 : tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y, %y2 : tensor<2x4xf32>, tensor<3x4xf32>
}

// -----

// Left alone: element-wise ops, a contraction of two activations, integer
// matmuls, and contractions reducing over two loops.
// CHECK-LABEL: func.func @untouched
// CHECK-NOT: r2q.
// CHECK: linalg.generic
// CHECK: linalg.matmul
// CHECK: linalg.matmul
// CHECK: linalg.generic
// CHECK-NOT: r2q.
func.func @untouched(%x: tensor<4x16xf32>, %i: tensor<4x16xi32>) -> (tensor<4x16xf32>, tensor<4x4xf32>, tensor<4x4xi32>, tensor<4xf32>) {
  %zero = arith.constant 0.0 : f32
  %zeroi = arith.constant 0 : i32
  %w = arith.constant dense<0.5> : tensor<4x16xf32>
  %e = tensor.empty() : tensor<4x16xf32>
  %relu = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %v = arith.maximumf %in, %zero : f32
    linalg.yield %v : f32
  } -> tensor<4x16xf32>
  // Q K^T: both operands are computed values.
  %et = tensor.empty() : tensor<16x4xf32>
  %kt = linalg.transpose ins(%relu : tensor<4x16xf32>) outs(%et : tensor<16x4xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<4x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<4x4xf32>) -> tensor<4x4xf32>
  %scores = linalg.matmul ins(%relu, %kt : tensor<4x16xf32>, tensor<16x4xf32>) outs(%acc : tensor<4x4xf32>) -> tensor<4x4xf32>
  // Integers.
  %wi = arith.constant dense<3> : tensor<16x4xi32>
  %oi = tensor.empty() : tensor<4x4xi32>
  %acci = linalg.fill ins(%zeroi : i32) outs(%oi : tensor<4x4xi32>) -> tensor<4x4xi32>
  %ints = linalg.matmul ins(%i, %wi : tensor<4x16xi32>, tensor<16x4xi32>) outs(%acci : tensor<4x4xi32>) -> tensor<4x4xi32>
  // Reduces over n and k: not a linear layer.
  %ov = tensor.empty() : tensor<4xf32>
  %accv = linalg.fill ins(%zero : f32) outs(%ov : tensor<4xf32>) -> tensor<4xf32>
  %twice = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m)>],
                           iterator_types = ["parallel", "reduction", "reduction"]}
      ins(%x, %w : tensor<4x16xf32>, tensor<4x16xf32>) outs(%accv : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %relu, %scores, %ints, %twice : tensor<4x16xf32>, tensor<4x4xf32>, tensor<4x4xi32>, tensor<4xf32>
}
