// RUN: r2q-opt %s --r2q-fold-constant-weights --split-input-file --verify-diagnostics

// Constants the numerics core rejects are errors at the op (fold hooks leave
// them silently unfolded).
func.func @nan_weight() -> tensor<2x1x1xf16> {
  %w = arith.constant dense<[[1.0, 0x7FC00000, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]> : tensor<1x8xf32>
  // expected-error @+1 {{'r2q.quantize' op cannot be folded at compile time: weight at row 0, column 1 is NaN}}
  %s, %a = r2q.quantize %w scheme <group_size = 8> : tensor<1x8xf32>
  return %a : tensor<2x1x1xf16>
}

// -----

func.func @f16_overflow() -> tensor<1x1xf16> {
  %w = arith.constant dense<1.0e6> : tensor<1x8xf32>
  // expected-error-re @+1 {{'r2q.residual' op cannot be folded at compile time: {{.*}}f16{{.*}}}}
  %s, %a, %n = r2q.residual %w group_size 8 : tensor<1x8xf32> -> tensor<1x1xi8>, tensor<1x1xf16>, tensor<1x8xf32>
  return %a : tensor<1x1xf16>
}

// -----

// A truncated blob is never read past its end.
func.func @truncated_weight() -> tensor<2x1x1xf16> {
  %w = arith.constant dense_resource<short_weight> : tensor<1x8xf32>
  // expected-error @+1 {{'r2q.quantize' op cannot be folded at compile time: dense_resource 'short_weight' holds 28 bytes, but tensor<1x8xf32> needs 32: the blob is truncated}}
  %s, %a = r2q.quantize %w scheme <group_size = 8> : tensor<1x8xf32>
  return %a : tensor<2x1x1xf16>
}

{-#
  dialect_resources: {
    builtin: {
      short_weight: "0x040000000000803F0000803F0000803F0000803F0000803F0000803F0000803F"
    }
  }
#-}
