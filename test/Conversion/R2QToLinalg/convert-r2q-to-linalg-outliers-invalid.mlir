// RUN: r2q-opt %s --split-input-file --verify-diagnostics --convert-r2q-to-linalg
// RUN: r2q-opt %s --split-input-file --verify-diagnostics --r2q-outline-kernels
// RUN: r2q-opt %s --split-input-file --verify-diagnostics --r2q-cpu-pipeline

// The verifier checks the outliers' types; the passes that lower r2q.matmul
// check the contents of constant offsets and columns before anything reads
// them (the sparse product gathers x[..., columns[j]]).

func.func @column_past_k(%x: tensor<2x100xf32>, %s: tensor<1x3x13xi8>, %a: tensor<1x3x4xf32>) -> tensor<2x3xf32> {
  %o = arith.constant dense<[0, 1, 1, 2]> : tensor<4xi32>
  %c = arith.constant dense<[5, 100]> : tensor<2xi16>
  %v = arith.constant dense<[1.0, 2.0]> : tensor<2xf16>
  // expected-error @+1 {{'r2q.matmul' op outlier column 100 of row 2 is outside [0, K = 100)}}
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<2x100xf32>, tensor<1x3x13xi8>, tensor<1x3x4xf32>, outliers(tensor<4xi32>, tensor<2xi16>, tensor<2xf16>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

func.func @offsets_past_count(%x: tensor<2x100xf32>, %s: tensor<1x3x13xi8>, %a: tensor<1x3x4xf32>) -> tensor<2x3xf32> {
  %o = arith.constant dense<[0, 1, 2, 3]> : tensor<4xi32>
  %c = arith.constant dense<[5, 7]> : tensor<2xi32>
  %v = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  // expected-error @+1 {{'r2q.matmul' op outlier offsets must run from 0 to the number of outliers 2, got 0 to 3}}
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<2x100xf32>, tensor<1x3x13xi8>, tensor<1x3x4xf32>, outliers(tensor<4xi32>, tensor<2xi32>, tensor<2xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

func.func @offsets_decrease(%x: tensor<2x100xf32>, %s: tensor<1x3x13xi8>, %a: tensor<1x3x4xf32>) -> tensor<2x3xf32> {
  %o = arith.constant dense<[0, 2, 1, 2]> : tensor<4xi32>
  %c = arith.constant dense<[5, 7]> : tensor<2xi16>
  %v = arith.constant dense<[1.0, 2.0]> : tensor<2xf16>
  // expected-error @+1 {{'r2q.matmul' op outlier offsets must not decrease: row 1 runs from 2 to 1}}
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<2x100xf32>, tensor<1x3x13xi8>, tensor<1x3x4xf32>, outliers(tensor<4xi32>, tensor<2xi16>, tensor<2xf16>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

func.func @columns_not_ascending(%x: tensor<2x100xf32>, %s: tensor<1x3x13xi8>, %a: tensor<1x3x4xf32>) -> tensor<2x3xf32> {
  %o = arith.constant dense<[0, 0, 2, 2]> : tensor<4xi32>
  %c = arith.constant dense<7> : tensor<2xi16>
  %v = arith.constant dense<[1.0, 2.0]> : tensor<2xf16>
  // expected-error @+1 {{'r2q.matmul' op outlier columns of row 1 must ascend, got 7 then 7}}
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<2x100xf32>, tensor<1x3x13xi8>, tensor<1x3x4xf32>, outliers(tensor<4xi32>, tensor<2xi16>, tensor<2xf16>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}
