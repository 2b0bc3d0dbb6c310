// RUN: r2q-opt %s --r2q-quantize-linear="group-size=8" --split-input-file --verify-diagnostics

// r2q-quantize-linear reads a constant weight only after checking that its
// dense_resource blob has exactly the size of its type (ConstantWeights.h),
// and reports it at the layer otherwise.

func.func @truncated(%x: tensor<1x8xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense_resource<truncated> : tensor<2x8xf32>
  %e = tensor.empty() : tensor<8x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x8xf32>) outs(%e : tensor<8x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<1x2xf32>) -> tensor<1x2xf32>
  // expected-error @+1 {{layer 'truncated': dense_resource 'truncated' holds 60 bytes, but tensor<2x8xf32> needs 64: the blob is truncated}}
  %y = linalg.matmul ins(%x, %wt : tensor<1x8xf32>, tensor<8x2xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      truncated: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F"
    }
  }
#-}

// -----

func.func @too_long(%x: tensor<1x8xbf16>) -> tensor<1x2xbf16> {
  %w = arith.constant dense_resource<too_long> : tensor<8x2xbf16>
  %zero = arith.constant 0.0 : bf16
  %o = tensor.empty() : tensor<1x2xbf16>
  %acc = linalg.fill ins(%zero : bf16) outs(%o : tensor<1x2xbf16>) -> tensor<1x2xbf16>
  // expected-error @+1 {{layer 'too_long': dense_resource 'too_long' holds 34 bytes, but tensor<8x2xbf16> needs 32: the blob is too long}}
  %y = linalg.matmul ins(%x, %w : tensor<1x8xbf16>, tensor<8x2xbf16>) outs(%acc : tensor<1x2xbf16>) -> tensor<1x2xbf16>
  return %y : tensor<1x2xbf16>
}

{-#
  dialect_resources: {
    builtin: {
      too_long: "0x02000000803F803F803F803F803F803F803F803F803F803F803F803F803F803F803F803F803F"
    }
  }
#-}

// -----

func.func @missing(%x: tensor<1x8xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense_resource<missing> : tensor<8x2xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<1x2xf32>) -> tensor<1x2xf32>
  // expected-error @+1 {{layer 'missing': dense_resource 'missing' has no data: no entry for it in the dialect_resources section, or it was elided}}
  %y = linalg.matmul ins(%x, %w : tensor<1x8xf32>, tensor<8x2xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
