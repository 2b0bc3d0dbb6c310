// What r2q-quantize-linear takes for a weight: compile-time constants through
// any chain of ops it can evaluate, and arguments only when the user marks
// them. Everything else, above all an activation, stays in float with a
// remark that says why.
// RUN: r2q-opt %s --split-input-file --verify-diagnostics \
// RUN:   --r2q-quantize-linear="group-size=8 scale-type=f32" | FileCheck %s
// RUN: r2q-opt %s --split-input-file \
// RUN:   --r2q-quantize-linear="group-size=8 weight-args=unmarked_argument:arg1" 2>/dev/null \
// RUN:   | FileCheck %s --check-prefix=NAMED
// RUN: r2q-opt %s --split-input-file \
// RUN:   --r2q-quantize-linear="group-size=8 max-fold-elements=256" 2>&1 >/dev/null \
// RUN:   | FileCheck %s --check-prefix=BOUND
// RUN: r2q-opt %s --split-input-file --r2q-quantize-linear="group-size=8" 2>&1 \
// RUN:   | FileCheck %s --check-prefix=TINY

// An argument is an activation unless the user says otherwise: no
// r2q.quantize of an unmarked argument, ever.
// CHECK-LABEL: func.func @unmarked_argument
// CHECK-NOT: r2q.
// CHECK: linalg.matmul
// NAMED-LABEL: func.func @unmarked_argument
// NAMED: r2q.quantize %arg1
// NAMED: r2q.matmul
func.func @unmarked_argument(%x: tensor<2x16xf32>, %w: tensor<4x16xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  // expected-remark @+1 {{contraction left in float: no operand is a weight (a compile-time constant, or an argument marked r2q.weight or named in weight-args); operand 0: argument 'unmarked_argument:arg0' is not marked as a weight; operand 1: argument 'unmarked_argument:arg1' is not marked as a weight}}
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<2x16xf32>, tensor<4x16xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

#x_map = affine_map<(m, n, k) -> (m, k)>
#w_map = affine_map<(m, n, k) -> (n, k)>
#y_map = affine_map<(m, n, k) -> (m, n)>

// x * x^T and attention scores q * k^T, with q and k produced by quantized
// layers: the layers are rewritten, the products of activations are not.
// CHECK-LABEL: func.func @products_of_activations
// CHECK-COUNT-2: r2q.matmul
// CHECK-NOT: r2q.
// CHECK: linalg.matmul
// CHECK-NOT: r2q.
// CHECK: linalg.matmul
// CHECK-NOT: r2q.
func.func @products_of_activations(%x: tensor<4x16xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %wq = arith.constant dense<0.25> : tensor<16x16xf32>
  %wk = arith.constant dense<-0.5> : tensor<16x16xf32>
  %o16 = tensor.empty() : tensor<4x16xf32>
  %a16 = linalg.fill ins(%zero : f32) outs(%o16 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %q = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %wq : tensor<4x16xf32>, tensor<16x16xf32>) outs(%a16 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %k = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %wk : tensor<4x16xf32>, tensor<16x16xf32>) outs(%a16 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %o4 = tensor.empty() : tensor<4x4xf32>
  %a4 = linalg.fill ins(%zero : f32) outs(%o4 : tensor<4x4xf32>) -> tensor<4x4xf32>
  // expected-remark @+1 {{operand 0: argument 'products_of_activations:arg0' is not marked as a weight; operand 1: argument 'products_of_activations:arg0' is not marked as a weight}}
  %gram = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %x : tensor<4x16xf32>, tensor<4x16xf32>) outs(%a4 : tensor<4x4xf32>) -> tensor<4x4xf32>
  // expected-remark @+1 {{operand 0: it is computed by 'linalg.matmul', which is not an element-wise, transposing or broadcasting op; operand 1: it is computed by 'linalg.matmul', which is not an element-wise, transposing or broadcasting op}}
  %scores = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%q, %k : tensor<4x16xf32>, tensor<4x16xf32>) outs(%a4 : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %gram, %scores : tensor<4x4xf32>, tensor<4x4xf32>
}

// -----

#x_map = affine_map<(m, n, k) -> (m, k)>
#w_map = affine_map<(m, n, k) -> (n, k)>
#y_map = affine_map<(m, n, k) -> (m, n)>

// A weight computed from an activation (here scaled by it) is an activation.
// CHECK-LABEL: func.func @weight_times_activation
// CHECK-NOT: r2q.
func.func @weight_times_activation(%x: tensor<2x16xf32>, %s: tensor<4x16xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.5> : tensor<4x16xf32>
  %e = tensor.empty() : tensor<4x16xf32>
  %ws = linalg.mul ins(%w, %s : tensor<4x16xf32>, tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  // expected-remark @+1 {{operand 1: it depends on a block argument, known only at run time}}
  %y = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %ws : tensor<2x16xf32>, tensor<4x16xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

#x_map = affine_map<(m, n, k) -> (m, k)>
#w_map = affine_map<(m, n, k) -> (n, k)>
#y_map = affine_map<(m, n, k) -> (m, n)>

// Slices of a fused QKV constant along N, and a slice along K that stays
// group-aligned: each slice is its own weight.
// CHECK-LABEL: func.func @fused_qkv_slices
// CHECK-NOT: tensor.extract_slice
// CHECK: r2q.matmul {{.*}} tensor<2x8x2xi8>, tensor<2x8x2xf32>
// CHECK: r2q.matmul {{.*}} tensor<2x8x2xi8>, tensor<2x8x2xf32>
// CHECK: r2q.matmul {{.*}} tensor<2x4x1xi8>, tensor<2x4x1xf32>
// CHECK-NOT: linalg.matmul
// BOUND-NOT: fused_qkv_slices
func.func @fused_qkv_slices(%x: tensor<2x16xf32>, %x8: tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %qkv = arith.constant dense<[[1.0, -2.0, 3.0, 0.5, 1.5, -2.5, 3.5, 0.25, 1.0, -2.0, 3.0, 0.5, 1.5, -2.5, 3.5, 0.25]]> : tensor<1x16xf32>
  %b = tensor.empty() : tensor<16x16xf32>
  %row = tensor.collapse_shape %qkv [[0, 1]] : tensor<1x16xf32> into tensor<16xf32>
  %w = linalg.broadcast ins(%row : tensor<16xf32>) outs(%b : tensor<16x16xf32>) dimensions = [0]
  %q = tensor.extract_slice %w[0, 0] [8, 16] [1, 1] : tensor<16x16xf32> to tensor<8x16xf32>
  %k = tensor.extract_slice %w[8, 0] [8, 16] [1, 1] : tensor<16x16xf32> to tensor<8x16xf32>
  %v = tensor.extract_slice %w[4, 8] [4, 8] [1, 1] : tensor<16x16xf32> to tensor<4x8xf32>
  %o = tensor.empty() : tensor<2x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x8xf32>) -> tensor<2x8xf32>
  %yq = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %q : tensor<2x16xf32>, tensor<8x16xf32>) outs(%acc : tensor<2x8xf32>) -> tensor<2x8xf32>
  %yk = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %k : tensor<2x16xf32>, tensor<8x16xf32>) outs(%acc : tensor<2x8xf32>) -> tensor<2x8xf32>
  %o4 = tensor.empty() : tensor<2x4xf32>
  %acc4 = linalg.fill ins(%zero : f32) outs(%o4 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %yv = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x8, %v : tensor<2x8xf32>, tensor<4x8xf32>) outs(%acc4 : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %yq, %yk, %yv : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x4xf32>
}

// -----

#x_map = affine_map<(m, n, k) -> (m, k)>
#w_map = affine_map<(m, n, k) -> (n, k)>
#y_map = affine_map<(m, n, k) -> (m, n)>

// A 3-D weight (heads x head_dim x K) collapsed to N x K, then transposed the
// way Torch-MLIR applies nn.Linear.
// CHECK-LABEL: func.func @collapsed_3d_weight
// CHECK-NOT: tensor.collapse_shape
// CHECK: r2q.matmul {{.*}} tensor<2x8x2xi8>
// CHECK-NOT: linalg.matmul
func.func @collapsed_3d_weight(%x: tensor<2x16xf32>) -> tensor<2x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w3 = arith.constant dense<0.75> : tensor<2x4x16xf32>
  %w = tensor.collapse_shape %w3 [[0, 1], [2]] : tensor<2x4x16xf32> into tensor<8x16xf32>
  %e = tensor.empty() : tensor<16x8xf32>
  %wt = linalg.transpose ins(%w : tensor<8x16xf32>) outs(%e : tensor<16x8xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<2x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<2x16xf32>, tensor<16x8xf32>) outs(%acc : tensor<2x8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

#x_map = affine_map<(m, n, k) -> (m, k)>
#w_map = affine_map<(m, n, k) -> (n, k)>
#y_map = affine_map<(m, n, k) -> (m, n)>

// int8 weights dequantized by (sitofp(q) - zero_point) * scale per row, the
// result scaled again by a scalar and used by two layers: one evaluation,
// one quantization, shared.
// CHECK-LABEL: func.func @int8_dequantized_shared
// CHECK-COUNT-2: arith.constant dense<{{.*}}> : tensor<2x4x2x
// CHECK-NOT: arith.constant dense<{{.*}}> : tensor<2x4x2x
// CHECK-COUNT-2: r2q.matmul {{.*}} tensor<2x4x2xi8>
// CHECK-NOT: linalg.
func.func @int8_dequantized_shared(%x: tensor<2x16xf32>, %z: tensor<3x16xf32>) -> (tensor<2x4xf32>, tensor<3x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %q = arith.constant dense<[[-128, 127, 0, 5, -7, 33, 90, -100, 1, 2, 3, 4, 5, 6, 7, 8],
                              [10, -10, 20, -20, 30, -30, 40, -40, 50, -50, 60, -60, 70, -70, 80, -80],
                              [1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1],
                              [0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]> : tensor<4x16xi8>
  %scale = arith.constant dense<[0.01, 0.02, 0.5, 1.0]> : tensor<4xf32>
  %zp = arith.constant dense<[0, 3, -1, 2]> : tensor<4xi8>
  %e = tensor.empty() : tensor<4x16xf32>
  %w = linalg.generic {indexing_maps = [affine_map<(n, k) -> (n, k)>, affine_map<(n, k) -> (n)>, affine_map<(n, k) -> (n)>, affine_map<(n, k) -> (n, k)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%q, %scale, %zp : tensor<4x16xi8>, tensor<4xf32>, tensor<4xi8>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%qi: i8, %s: f32, %zi: i8, %out: f32):
    %wide = arith.extsi %qi : i8 to i32
    %zwide = arith.extsi %zi : i8 to i32
    %shifted = arith.subi %wide, %zwide : i32
    %f = arith.sitofp %shifted : i32 to f32
    %scaled = arith.mulf %f, %s : f32
    %halved = arith.mulf %scaled, %half : f32
    linalg.yield %halved : f32
  } -> tensor<4x16xf32>
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %w : tensor<2x16xf32>, tensor<4x16xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  %o3 = tensor.empty() : tensor<3x4xf32>
  %acc3 = linalg.fill ins(%zero : f32) outs(%o3 : tensor<3x4xf32>) -> tensor<3x4xf32>
  %y3 = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%z, %w : tensor<3x16xf32>, tensor<4x16xf32>) outs(%acc3 : tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y, %y3 : tensor<2x4xf32>, tensor<3x4xf32>
}

// -----

#x_map = affine_map<(m, n, k) -> (m, k)>
#w_map = affine_map<(m, n, k) -> (n, k)>
#y_map = affine_map<(m, n, k) -> (m, n)>

// int4 weights (unsigned, zero point 8) through uitofp, and f16 weights
// widened and divided by a constant with arith ops on tensors.
// CHECK-LABEL: func.func @int4_and_f16_tensor_ops
// CHECK-COUNT-2: r2q.matmul
// CHECK-NOT: linalg.matmul
func.func @int4_and_f16_tensor_ops(%x: tensor<2x16xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %q4 = arith.constant dense<[[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
                               [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]> : tensor<2x16xi4>
  %eight = arith.constant dense<8.0> : tensor<2x16xf32>
  %tenth = arith.constant dense<0.1> : tensor<2x16xf32>
  %u = arith.uitofp %q4 : tensor<2x16xi4> to tensor<2x16xf32>
  %centered = arith.subf %u, %eight : tensor<2x16xf32>
  %w4 = arith.mulf %centered, %tenth : tensor<2x16xf32>
  %h = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0],
                              [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]> : tensor<2x16xf16>
  %three = arith.constant dense<3.0> : tensor<2x16xf32>
  %hw = arith.extf %h : tensor<2x16xf16> to tensor<2x16xf32>
  %wh = arith.divf %hw, %three : tensor<2x16xf32>
  %o = tensor.empty() : tensor<2x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y4 = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %w4 : tensor<2x16xf32>, tensor<2x16xf32>) outs(%acc : tensor<2x2xf32>) -> tensor<2x2xf32>
  %yh = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %wh : tensor<2x16xf32>, tensor<2x16xf32>) outs(%acc : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y4, %yh : tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

#x_map = affine_map<(m, n, k) -> (m, k)>
#w_map = affine_map<(m, n, k) -> (n, k)>
#y_map = affine_map<(m, n, k) -> (m, n)>

// An immutable ml_program.global is a constant; once its only layer is
// quantized the private float global is gone. A mutable one is not.
// CHECK-NOT: ml_program.global private @w(
// CHECK: ml_program.global private mutable @m(
// CHECK-LABEL: func.func @globals
// CHECK: r2q.matmul
// CHECK: linalg.matmul
ml_program.global private @w(dense<0.125> : tensor<4x16xf32>) : tensor<4x16xf32>
ml_program.global private mutable @m(dense<0.25> : tensor<4x16xf32>) : tensor<4x16xf32>
func.func @globals(%x: tensor<2x16xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %w = ml_program.global_load_const @w : tensor<4x16xf32>
  %m = ml_program.global_load @m : tensor<4x16xf32>
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %w : tensor<2x16xf32>, tensor<4x16xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  // expected-remark @+1 {{operand 1: it is computed by 'ml_program.global_load', which r2q cannot evaluate at compile time}}
  %ym = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %m : tensor<2x16xf32>, tensor<4x16xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y, %ym : tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

#x_map = affine_map<(m, n, k) -> (m, k)>
#w_map = affine_map<(m, n, k) -> (n, k)>
#y_map = affine_map<(m, n, k) -> (m, n)>

// Producer chains with a tensor over max-fold-elements stay in float.
// BOUND: remark: contraction left in float: {{.*}}operand 1: a tensor in its producer chain has more than 256 elements (max-fold-elements)
func.func @big_chain(%x: tensor<2x16xf32>) -> tensor<2x16xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.5> : tensor<32x16xf32>
  %s = tensor.extract_slice %w[0, 0] [16, 16] [1, 1] : tensor<32x16xf32> to tensor<16x16xf32>
  %o = tensor.empty() : tensor<2x16xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x16xf32>) -> tensor<2x16xf32>
  %y = linalg.matmul indexing_maps = [#x_map, #w_map, #y_map]
      ins(%x, %s : tensor<2x16xf32>, tensor<16x16xf32>) outs(%acc : tensor<2x16xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}

// -----

// Weights too small for f16 scales (the default) would decode as zeros: the
// layer gets f32 scales and a warning instead. Row 0 holds the two groups.
// TINY: warning: layer 'tiny_weights:linear0': 2 groups of non-zero weights would get all-zero f16 scales (the weights are too small for it); this layer uses f32 scales
// TINY-LABEL: func.func @tiny_weights
// TINY: r2q.matmul {{.*}} tensor<2x4x2xi8>, tensor<2x4x2xf32>
func.func @tiny_weights(%x: tensor<2x16xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09, 1.0e-09],
      [0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25],
      [0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25],
      [0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25, 0.5, -0.25]]> : tensor<4x16xf32>
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<2x16xf32>, tensor<4x16xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
