// A dense_resource blob whose 4-byte alignment header is 0: MLIR 22.1.8's
// parser accepts the header (it only rejects non-zero values that are not a
// power of two) and then asks for a 0-aligned buffer, which aborts with
// "LLVM ERROR: out of memory / Buffer allocation failed".
func.func @f() -> tensor<2xf32> {
  %c = arith.constant dense_resource<blob> : tensor<2xf32>
  return %c : tensor<2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      blob: "0x000000000000803F0000803F"
    }
  }
#-}
