// RUN: r2q-opt %s --r2q-cpu-pipeline --split-input-file --verify-diagnostics

// A float layer left untouched must not read past its blob: a dense_resource
// weight of the wrong size, or with no data, is an error at the constant
// before anything reads it (r2q-verify-resource-blobs runs first), not a read
// past the blob's end when the constant transpose is folded or a failure in
// mlir-runner.

func.func @truncated(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  // expected-error @+1 {{dense_resource 'truncated' holds 28 bytes, but tensor<2x4xf32> needs 32: the blob is truncated}}
  %w = arith.constant dense_resource<truncated> : tensor<2x4xf32>
  %e = tensor.empty() : tensor<4x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x4xf32>) outs(%e : tensor<4x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<1x4xf32>, tensor<4x2xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      truncated: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F"
    }
  }
#-}

// -----

func.func @too_long(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  // expected-error @+1 {{dense_resource 'too_long' holds 36 bytes, but tensor<4x2xf32> needs 32: the blob is too long}}
  %w = arith.constant dense_resource<too_long> : tensor<4x2xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<1x4xf32>, tensor<4x2xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      too_long: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F"
    }
  }
#-}

// -----

func.func @missing(%x: tensor<1x4xbf16>) -> tensor<1x2xbf16> {
  // expected-error @+1 {{dense_resource 'torch_tensor_2_4_torch.bfloat16' has no data: no entry for it in the dialect_resources section, or it was elided}}
  %w = arith.constant dense_resource<torch_tensor_2_4_torch.bfloat16> : tensor<4x2xbf16>
  %zero = arith.constant 0.0 : bf16
  %o = tensor.empty() : tensor<1x2xbf16>
  %acc = linalg.fill ins(%zero : bf16) outs(%o : tensor<1x2xbf16>) -> tensor<1x2xbf16>
  %y = linalg.matmul ins(%x, %w : tensor<1x4xbf16>, tensor<4x2xbf16>) outs(%acc : tensor<1x2xbf16>) -> tensor<1x2xbf16>
  return %y : tensor<1x2xbf16>
}
