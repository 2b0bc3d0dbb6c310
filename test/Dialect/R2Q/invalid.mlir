// RUN: r2q-opt %s --split-input-file --verify-diagnostics

// r2q.weight marks function arguments that are weights: a unit attribute on
// a static 2-D float tensor.
// expected-error @+1 {{'r2q.weight' on argument 0: a weight must be a static 2-D float tensor, got 'tensor<4x16x2xf32>'}}
func.func @weight_attr_rank(%w: tensor<4x16x2xf32> {r2q.weight}) {
  return
}

// -----

// expected-error @+1 {{'r2q.weight' on argument 1: a weight must be a static 2-D float tensor, got 'tensor<?x16xf32>'}}
func.func @weight_attr_dynamic(%x: tensor<2x16xf32>, %w: tensor<?x16xf32> {r2q.weight}) {
  return
}

// -----

// expected-error @+1 {{'r2q.weight' takes no value}}
func.func @weight_attr_value(%w: tensor<4x16xf32> {r2q.weight = 1 : i64}) {
  return
}

// -----

// expected-error @+1 {{unknown r2q argument attribute 'r2q.weights'}}
func.func @weight_attr_misspelled(%w: tensor<4x16xf32> {r2q.weights}) {
  return
}

// -----


// expected-error @+1 {{group size must be a positive multiple of 8, got 12}}
func.func @scheme_group_size() attributes {s = #r2q.scheme<group_size = 12>} { return }

// -----

// expected-error @+1 {{number of planes must be between 1 and 4, got 5}}
func.func @scheme_planes() attributes {s = #r2q.scheme<planes = 5>} { return }

// -----

// expected-error @+1 {{scale type must be f32, f16 or bf16, got 'i8'}}
func.func @scheme_scale_type() attributes {s = #r2q.scheme<scale_type = i8>} { return }

// -----

// expected-error @+1 {{scheme parameter 'planes' given twice}}
func.func @scheme_duplicate() attributes {s = #r2q.scheme<planes = 1, planes = 2>} { return }

// -----

// expected-error @+1 {{unknown scheme parameter 'bits'; expected group_size, planes, method or scale_type}}
func.func @scheme_unknown_key() attributes {s = #r2q.scheme<bits = 2>} { return }

// -----

// expected-error @+1 {{unknown method 'fancy'; expected 'greedy' or 'refined'}}
func.func @scheme_unknown_method() attributes {s = #r2q.scheme<method = fancy>} { return }

// -----

func.func @quantize_zero_k(%w: tensor<16x0xf32>) {
  // expected-error @+1 {{'r2q.quantize' op K (the reduction dimension) must be positive, got 0}}
  %s, %a = r2q.quantize %w scheme <group_size = 32> : tensor<16x0xf32>
  return
}

// -----

func.func @quantize_zero_n(%w: tensor<0x64xf32>) {
  // expected-error @+1 {{'r2q.quantize' op N (the number of output features) must be positive, got 0}}
  %s, %a = r2q.quantize %w scheme <group_size = 32> : tensor<0x64xf32>
  return
}

// -----

func.func @residual_zero_k(%r: tensor<16x0xf32>) {
  // expected-error @+1 {{'r2q.residual' op K (the reduction dimension) must be positive, got 0}}
  %s, %a, %n = r2q.residual %r group_size 32 : tensor<16x0xf32> -> tensor<16x0xi8>, tensor<16x0xf16>, tensor<16x0xf32>
  return
}

// -----

func.func @residual_zero_n(%r: tensor<0x64xf32>) {
  // expected-error @+1 {{'r2q.residual' op N (the number of output features) must be positive, got 0}}
  %s, %a, %n = r2q.residual %r group_size 32 : tensor<0x64xf32> -> tensor<0x8xi8>, tensor<0x2xf16>, tensor<0x64xf32>
  return
}

// -----

func.func @dequantize_zero_k(%s: tensor<2x16x0xi8>, %a: tensor<2x16x0xf16>) {
  // expected-error @+1 {{'r2q.dequantize' op K (the reduction dimension) must be positive, got 0}}
  %w = r2q.dequantize %s, %a group_size 32 : tensor<2x16x0xi8>, tensor<2x16x0xf16> -> tensor<16x0xf32>
  return
}

// -----

func.func @dequantize_zero_n(%s: tensor<2x0x8xi8>, %a: tensor<2x0x2xf16>) {
  // expected-error @+1 {{'r2q.dequantize' op N (the number of output features) must be positive, got 0}}
  %w = r2q.dequantize %s, %a group_size 32 : tensor<2x0x8xi8>, tensor<2x0x2xf16> -> tensor<0x64xf32>
  return
}

// -----

func.func @matmul_zero_k(%x: tensor<4x0xf32>, %s: tensor<2x16x0xi8>, %a: tensor<2x16x0xf16>) {
  // expected-error @+1 {{'r2q.matmul' op K (the reduction dimension) must be positive, got 0}}
  %y = r2q.matmul %x, %s, %a group_size 32 : tensor<4x0xf32>, tensor<2x16x0xi8>, tensor<2x16x0xf16> -> tensor<4x16xf32>
  return
}

// -----

func.func @matmul_zero_n(%x: tensor<4x64xf32>, %s: tensor<2x0x8xi8>, %a: tensor<2x0x2xf16>) {
  // expected-error @+1 {{'r2q.matmul' op N (the number of output features) must be positive, got 0}}
  %y = r2q.matmul %x, %s, %a group_size 32 : tensor<4x64xf32>, tensor<2x0x8xi8>, tensor<2x0x2xf16> -> tensor<4x0xf32>
  return
}

// -----

// K = 100, G = 32: three whole groups and a last group of 4, so 4 scales
// and ceil(100/8) = 13 sign bytes per row.
func.func @matmul_ragged_scales(%x: tensor<4x100xf32>, %s: tensor<2x16x13xi8>, %a: tensor<2x16x3xf16>) {
  // expected-error @+1 {{'r2q.matmul' op scales must have ceil(K/group_size) groups per row: expected 4, got 3}}
  %y = r2q.matmul %x, %s, %a group_size 32 : tensor<4x100xf32>, tensor<2x16x13xi8>, tensor<2x16x3xf16> -> tensor<4x16xf32>
  return
}

// -----

func.func @matmul_ragged_signs(%x: tensor<4x100xf32>, %s: tensor<2x16x12xi8>, %a: tensor<2x16x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op signs must have ceil(K/8) bytes per row: expected 13, got 12}}
  %y = r2q.matmul %x, %s, %a group_size 32 : tensor<4x100xf32>, tensor<2x16x12xi8>, tensor<2x16x4xf16> -> tensor<4x16xf32>
  return
}

// -----

func.func @quantize_dynamic_k(%w: tensor<16x?xf32>) {
  // expected-error @+1 {{'r2q.quantize' op K (the reduction dimension) must be static}}
  %s, %a = r2q.quantize %w scheme <group_size = 32> : tensor<16x?xf32>
  return
}

// -----

func.func @quantize_not_2d(%w: tensor<4x16x128xf32>) {
  // expected-error @+1 {{'r2q.quantize' op the weight must be a 2-D tensor (N x K), got 'tensor<4x16x128xf32>'}}
  %s, %a = r2q.quantize %w scheme <group_size = 32> : tensor<4x16x128xf32>
  return
}

// -----

func.func @quantize_integer_weight(%w: tensor<16x128xi8>) {
  // expected-error @+1 {{'r2q.quantize' op operand #0 must be 2D tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %s, %a = r2q.quantize %w scheme <group_size = 32> : tensor<16x128xi8>
  return
}

// -----

func.func @quantize_wrong_result_types(%w: tensor<16x128xf32>) {
  // expected-error @+2 {{'r2q.quantize' op failed to infer returned types}}
  // expected-error @+1 {{'r2q.quantize' op inferred type(s) 'tensor<2x16x16xi8>', 'tensor<2x16x4xf16>' are incompatible with return type(s) of operation 'tensor<2x16x16xi8>', 'tensor<2x16x2xf16>'}}
  %s, %a = "r2q.quantize"(%w) <{scheme = #r2q.scheme<group_size = 32>}> : (tensor<16x128xf32>) -> (tensor<2x16x16xi8>, tensor<2x16x2xf16>)
  return
}

// -----

func.func @residual_next_type(%r: tensor<16x256xf32>) {
  // expected-error @+1 {{'r2q.residual' op the next residual must have the type of the residual 'tensor<16x256xf32>', got 'tensor<16x256xf16>'}}
  %s, %a, %n = r2q.residual %r group_size 128 : tensor<16x256xf32> -> tensor<16x32xi8>, tensor<16x2xf32>, tensor<16x256xf16>
  return
}

// -----

func.func @residual_sign_bytes(%r: tensor<16x256xf32>) {
  // expected-error @+1 {{'r2q.residual' op signs must have ceil(K/8) bytes per row: expected 32, got 16}}
  %s, %a, %n = r2q.residual %r group_size 128 : tensor<16x256xf32> -> tensor<16x16xi8>, tensor<16x2xf32>, tensor<16x256xf32>
  return
}

// -----

func.func @residual_group_count(%r: tensor<16x256xf32>) {
  // expected-error @+1 {{'r2q.residual' op scales must have ceil(K/group_size) groups per row: expected 2, got 4}}
  %s, %a, %n = r2q.residual %r group_size 128 : tensor<16x256xf32> -> tensor<16x32xi8>, tensor<16x4xf32>, tensor<16x256xf32>
  return
}

// -----

func.func @residual_group_size(%r: tensor<16x256xf32>) {
  // expected-error @+1 {{'r2q.residual' op group size must be a positive multiple of 8, got 100}}
  %s, %a, %n = r2q.residual %r group_size 100 : tensor<16x256xf32> -> tensor<16x32xi8>, tensor<16x2xf32>, tensor<16x256xf32>
  return
}

// -----

func.func @residual_zero_group_size(%r: tensor<16x256xf32>) {
  // expected-error @+1 {{'r2q.residual' op attribute 'group_size' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %s, %a, %n = r2q.residual %r group_size 0 : tensor<16x256xf32> -> tensor<16x32xi8>, tensor<16x2xf32>, tensor<16x256xf32>
  return
}

// -----

func.func @dequantize_plane_mismatch(%s: tensor<2x16x8xi8>, %a: tensor<3x16x1xf16>) {
  // expected-error @+1 {{'r2q.dequantize' op scales must have one plane per sign plane: expected 2, got 3}}
  %w = r2q.dequantize %s, %a group_size 64 : tensor<2x16x8xi8>, tensor<3x16x1xf16> -> tensor<16x64xf32>
  return
}

// -----

func.func @dequantize_too_many_planes(%s: tensor<5x16x8xi8>, %a: tensor<5x16x1xf16>) {
  // expected-error @+1 {{'r2q.dequantize' op number of planes must be between 1 and 4, got 5}}
  %w = r2q.dequantize %s, %a group_size 64 : tensor<5x16x8xi8>, tensor<5x16x1xf16> -> tensor<16x64xf32>
  return
}

// -----

func.func @dequantize_dynamic_planes(%s: tensor<?x16x8xi8>, %a: tensor<2x16x1xf16>) {
  // expected-error @+1 {{'r2q.dequantize' op the number of planes (dimension 0 of the signs) must be static}}
  %w = r2q.dequantize %s, %a group_size 64 : tensor<?x16x8xi8>, tensor<2x16x1xf16> -> tensor<16x64xf32>
  return
}

// -----

func.func @dequantize_rows(%s: tensor<2x8x8xi8>, %a: tensor<2x8x1xf16>) {
  // expected-error @+1 {{'r2q.dequantize' op signs must have one row per output feature N: expected 16, got 8}}
  %w = r2q.dequantize %s, %a group_size 64 : tensor<2x8x8xi8>, tensor<2x8x1xf16> -> tensor<16x64xf32>
  return
}

// -----

func.func @dequantize_scale_rows(%s: tensor<2x16x8xi8>, %a: tensor<2x8x1xf16>) {
  // expected-error @+1 {{'r2q.dequantize' op scales must have one row per output feature N: expected 16, got 8}}
  %w = r2q.dequantize %s, %a group_size 64 : tensor<2x16x8xi8>, tensor<2x8x1xf16> -> tensor<16x64xf32>
  return
}

// -----

func.func @dequantize_dynamic_rows_disagree(%s: tensor<2x16x8xi8>, %a: tensor<2x8x1xf16>) {
  // expected-error @+1 {{'r2q.dequantize' op scales must have as many rows as the signs: expected 16, got 8}}
  %w = r2q.dequantize %s, %a group_size 64 : tensor<2x16x8xi8>, tensor<2x8x1xf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @dequantize_sign_type(%s: tensor<2x16x8xi16>, %a: tensor<2x16x1xf16>) {
  // expected-error @+1 {{'r2q.dequantize' op operand #0 must be 3D tensor of 8-bit signless integer values}}
  %w = r2q.dequantize %s, %a group_size 64 : tensor<2x16x8xi16>, tensor<2x16x1xf16> -> tensor<16x64xf32>
  return
}

// -----

func.func @dequantize_scale_type(%s: tensor<2x16x8xi8>, %a: tensor<2x16x1xf64>) {
  // expected-error @+1 {{'r2q.dequantize' op operand #1 must be 3D tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %w = r2q.dequantize %s, %a group_size 64 : tensor<2x16x8xi8>, tensor<2x16x1xf64> -> tensor<16x64xf32>
  return
}

// -----

// G = 96 does not divide K = 512: six groups, the last of 32 weights.
func.func @matmul_group_not_dividing_k(%x: tensor<4x512xf32>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op scales must have ceil(K/group_size) groups per row: expected 6, got 4}}
  %y = r2q.matmul %x, %s, %a group_size 96 : tensor<4x512xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<4x256xf32>
  return
}

// -----

func.func @matmul_group_not_multiple_of_8(%x: tensor<4x512xf32>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op group size must be a positive multiple of 8, got 100}}
  %y = r2q.matmul %x, %s, %a group_size 100 : tensor<4x512xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<4x256xf32>
  return
}

// -----

func.func @matmul_dynamic_k(%x: tensor<4x?xf32>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op K (the reduction dimension) must be static}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<4x?xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<4x256xf32>
  return
}

// -----

func.func @matmul_k_mismatch(%x: tensor<4x256xf32>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op signs must have ceil(K/8) bytes per row: expected 32, got 64}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<4x256xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<4x256xf32>
  return
}

// -----

// The sizes that follow from K are static: lowerings lay out their loops by
// them.
func.func @matmul_dynamic_bytes(%x: tensor<4x256xf32>, %s: tensor<2x?x?xi8>, %a: tensor<2x?x2xf16>) {
  // expected-error @+1 {{'r2q.matmul' op signs must have ceil(K/8) bytes per row: expected 32, got a dynamic size}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<4x256xf32>, tensor<2x?x?xi8>, tensor<2x?x2xf16> -> tensor<4x?xf32>
  return
}

// -----

func.func @matmul_dynamic_groups(%x: tensor<4x256xf32>, %s: tensor<2x?x32xi8>, %a: tensor<2x?x?xf16>) {
  // expected-error @+1 {{'r2q.matmul' op scales must have ceil(K/group_size) groups per row: expected 2, got a dynamic size}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<4x256xf32>, tensor<2x?x32xi8>, tensor<2x?x?xf16> -> tensor<4x?xf32>
  return
}

// -----

func.func @matmul_scalar_input(%x: tensor<f32>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op the input must have rank >= 1 with K innermost}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<f32>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<f32>
  return
}

// -----

func.func @matmul_rank(%x: tensor<4x512xf32>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op the result must have the input's rank 2, got 3}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<4x512xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<1x4x256xf32>
  return
}

// -----

func.func @matmul_batch(%x: tensor<4x512xf32>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op batch dimension 0 of the result is 3 but the input's is 4}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<4x512xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<3x256xf32>
  return
}

// -----

func.func @matmul_output_features(%x: tensor<4x512xf32>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op signs must have one row per output feature N: expected 128, got 256}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<4x512xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<4x128xf32>
  return
}

// -----

func.func @matmul_integer_input(%x: tensor<4x512xi32>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op operand #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<4x512xi32>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<4x256xf32>
  return
}

// -----

func.func @matmul_integer_result(%x: tensor<4x512xf32>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) {
  // expected-error @+1 {{'r2q.matmul' op result #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<4x512xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<4x256xi32>
  return
}

// -----

func.func @quantize_without_scheme(%w: tensor<16x128xf32>) {
  // expected-error @+1 {{'r2q.quantize' op requires attribute 'scheme'}}
  %s, %a = "r2q.quantize"(%w) : (tensor<16x128xf32>) -> (tensor<2x16x16xi8>, tensor<2x16x1xf16>)
  return
}

// -----

func.func @matmul_outlier_offsets(%x: tensor<3x100xf32>, %s: tensor<2x16x13xi8>, %a: tensor<2x16x4xf16>, %o: tensor<16xi32>, %c: tensor<9xi16>, %v: tensor<9xf16>) {
  // expected-error @+1 {{'r2q.matmul' op outlier offsets must have N + 1 entries: expected 17, got 16}}
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<3x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16>, outliers(tensor<16xi32>, tensor<9xi16>, tensor<9xf16>) -> tensor<3x16xf32>
  return
}

// -----

func.func @matmul_outlier_lengths(%x: tensor<3x100xf32>, %s: tensor<2x16x13xi8>, %a: tensor<2x16x4xf16>, %o: tensor<17xi32>, %c: tensor<9xi16>, %v: tensor<8xf16>) {
  // expected-error @+1 {{'r2q.matmul' op outlier values must have one entry per outlier column: expected 9, got 8}}
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<3x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16>, outliers(tensor<17xi32>, tensor<9xi16>, tensor<8xf16>) -> tensor<3x16xf32>
  return
}

// -----

func.func @matmul_outlier_i16_columns(%x: tensor<1x32776xf32>, %s: tensor<1x4x4097xi8>, %a: tensor<1x4x4097xf32>, %o: tensor<5xi32>, %c: tensor<?xi16>, %v: tensor<?xf32>) {
  // expected-error @+1 {{'r2q.matmul' op outlier columns must be i32 when K > 32768 (i16 holds columns up to 32767), got K = 32776}}
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 8 : tensor<1x32776xf32>, tensor<1x4x4097xi8>, tensor<1x4x4097xf32>, outliers(tensor<5xi32>, tensor<?xi16>, tensor<?xf32>) -> tensor<1x4xf32>
  return
}

// -----

func.func @matmul_outlier_value_type(%x: tensor<3x100xf32>, %s: tensor<2x16x13xi8>, %a: tensor<2x16x4xf16>, %o: tensor<17xi32>, %c: tensor<9xi16>, %v: tensor<9xbf16>) {
  // expected-error @+1 {{'r2q.matmul' op operand #5 must be 1D tensor of 16-bit float or 32-bit float values, but got 'tensor<9xbf16>'}}
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<3x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16>, outliers(tensor<17xi32>, tensor<9xi16>, tensor<9xbf16>) -> tensor<3x16xf32>
  return
}

// -----

func.func @matmul_outlier_column_type(%x: tensor<3x100xf32>, %s: tensor<2x16x13xi8>, %a: tensor<2x16x4xf16>, %o: tensor<17xi32>, %c: tensor<9xi64>, %v: tensor<9xf16>) {
  // expected-error @+1 {{'r2q.matmul' op operand #4 must be 1D tensor of 16-bit signless integer or 32-bit signless integer values, but got 'tensor<9xi64>'}}
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<3x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16>, outliers(tensor<17xi32>, tensor<9xi64>, tensor<9xf16>) -> tensor<3x16xf32>
  return
}

// -----

// The generic form can name some outlier operands but not all.
func.func @matmul_outliers_partial(%x: tensor<3x100xf32>, %s: tensor<2x16x13xi8>, %a: tensor<2x16x4xf16>, %o: tensor<17xi32>) {
  // expected-error @+1 {{'r2q.matmul' op takes all three outlier operands (offsets, columns, values) or none}}
  %y = "r2q.matmul"(%x, %s, %a, %o) <{group_size = 32 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>}> : (tensor<3x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16>, tensor<17xi32>) -> tensor<3x16xf32>
  return
}
