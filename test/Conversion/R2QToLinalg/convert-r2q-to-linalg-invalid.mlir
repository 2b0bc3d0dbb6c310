// RUN: r2q-opt %s --split-input-file --convert-r2q-to-linalg --verify-diagnostics

func.func @refined_runtime_weight(%w: tensor<16x256xf32>) -> (tensor<2x16x32xi8>, tensor<2x16x2xf16>) {
  // expected-error @+1 {{'r2q.quantize' op with method = refined cannot run on a weight only known at run time; make the weight a constant so that it folds, or use method = greedy}}
  %s, %a = r2q.quantize %w scheme <method = refined> : tensor<16x256xf32>
  return %s, %a : tensor<2x16x32xi8>, tensor<2x16x2xf16>
}
