// RUN: r2q-opt %s --r2q-verify-resource-blobs --split-input-file --verify-diagnostics

// A blob of exactly the type's size (after the 4-byte alignment header) passes.
func.func @exact() -> tensor<2x2xf32> {
  %c = arith.constant dense_resource<exact> : tensor<2x2xf32>
  return %c : tensor<2x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      exact: "0x040000000000803F0000004000004040000080C0"
    }
  }
#-}

// -----

func.func @truncated() -> tensor<2x2xf32> {
  // expected-error @+1 {{dense_resource 'truncated' holds 12 bytes, but tensor<2x2xf32> needs 16: the blob is truncated}}
  %c = arith.constant dense_resource<truncated> : tensor<2x2xf32>
  return %c : tensor<2x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      truncated: "0x040000000000803F0000004000004040"
    }
  }
#-}

// -----

func.func @too_long() -> tensor<2x2xbf16> {
  // expected-error @+1 {{dense_resource 'too_long' holds 10 bytes, but tensor<2x2xbf16> needs 8: the blob is too long}}
  %c = arith.constant dense_resource<too_long> : tensor<2x2xbf16>
  return %c : tensor<2x2xbf16>
}

{-#
  dialect_resources: {
    builtin: {
      too_long: "0x02000000803F00400040803F803F"
    }
  }
#-}

// -----

// No entry for the key in the dialect_resources section (MLIR 22's parser
// accepts this silently).
func.func @missing() -> tensor<2x2xf32> {
  // expected-error @+1 {{dense_resource 'missing' has no data: no entry for it in the dialect_resources section, or it was elided}}
  %c = arith.constant dense_resource<missing> : tensor<2x2xf32>
  return %c : tensor<2x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      other: "0x040000000000803F0000004000004040000080C0"
    }
  }
#-}

// -----

func.func @elided() -> tensor<2x2xf32> {
  // expected-error @+1 {{dense_resource '__elided__' has no data}}
  %c = arith.constant dense_resource<__elided__> : tensor<2x2xf32>
  return %c : tensor<2x2xf32>
}

// -----

// Every attribute is checked, not only arith.constant values: a global's
// initial value (what bufferization makes of a constant) and attributes in
// the discardable dictionary.
// expected-error @+1 {{dense_resource 'global_blob' holds 4 bytes, but tensor<5xi8> needs 5: the blob is truncated}}
memref.global "private" constant @g : memref<5xi8> = dense_resource<global_blob>
// expected-error @+1 {{dense_resource 'tagged' holds 2 bytes, but tensor<2xi16> needs 4: the blob is truncated}}
func.func @tagged() attributes {r2q.data = [dense_resource<tagged> : tensor<2xi16>]} {
  return
}
// Complex elements are two of their element type, i1 elements a byte each.
// expected-error @+1 {{dense_resource 'complex' holds 8 bytes, but tensor<2xcomplex<f32>> needs 16: the blob is truncated}}
memref.global "private" constant @c : memref<2xcomplex<f32>> = dense_resource<complex>
memref.global "private" constant @bits : memref<3xi1> = dense_resource<bits>

{-#
  dialect_resources: {
    builtin: {
      global_blob: "0x0100000001020304",
      tagged: "0x020000000100",
      complex: "0x040000000000803F0000803F",
      bits: "0x01000000010001"
    }
  }
#-}
