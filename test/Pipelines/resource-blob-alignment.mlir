// RUN: r2q-opt %s --r2q-cpu-pipeline --split-input-file --verify-diagnostics

// The 4-byte little-endian alignment header of a dense_resource blob is
// checked by MLIR 22's parser itself: r2q-opt reports a header that is not a
// power of two, or a blob too short to hold one, at the blob. (A header of 0
// makes the parser abort, in upstream mlir-opt as well:
// fuzz/known-upstream/resource-alignment-zero.mlir.)

func.func @not_power_of_two() -> tensor<2xf32> {
  %w = arith.constant dense_resource<blob> : tensor<2xf32>
  return %w : tensor<2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      // expected-error @+1 {{expected hex string blob for key 'blob' to encode alignment in first 4 bytes, but got non-power-of-2 value: 3}}
      blob: "0x030000000000803F0000803F"
    }
  }
#-}

// -----

func.func @no_header() -> tensor<2xf32> {
  %w = arith.constant dense_resource<blob> : tensor<2xf32>
  return %w : tensor<2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      // expected-error @+1 {{expected hex string blob for key 'blob' to encode alignment in first 4 bytes}}
      blob: "0x0400"
    }
  }
#-}
