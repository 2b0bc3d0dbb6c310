// RUN: r2q-opt %s --split-input-file --r2q-pack-weights=max-padding=1000 --verify-diagnostics

// Signs that cannot be read are an error at the op that would read them.
func.func @truncated(%x: tensor<1x64xf32>) -> tensor<1x2xf32> {
  %s = arith.constant dense_resource<short_signs> : tensor<2x2x8xi8>
  %a = arith.constant dense<1.0> : tensor<2x2x1xf32>
  // expected-error @+1 {{'r2q.matmul' op dense_resource 'short_signs' holds 8 bytes, but tensor<2x2x8xi8> needs 32: the blob is truncated}}
  %y = r2q.matmul %x, %s, %a group_size 64 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<1x64xf32>, tensor<2x2x8xi8>, tensor<2x2x1xf32> -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      short_signs: "0x010000001112131415161718"
    }
  }
#-}
