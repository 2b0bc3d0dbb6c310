//===- R2QAttrs.td - r2q attributes ------------------------*- tablegen -*-===//

#ifndef R2Q_DIALECT_R2Q_IR_R2QATTRS_TD
#define R2Q_DIALECT_R2Q_IR_R2QATTRS_TD

include "r2q/Dialect/R2Q/IR/R2QDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def R2Q_MethodGreedy : I32EnumAttrCase<"Greedy", 0, "greedy">;
def R2Q_MethodRefined : I32EnumAttrCase<"Refined", 1, "refined">;

def R2Q_Method : I32EnumAttr<"Method", "how sign planes and scales are chosen",
    [R2Q_MethodGreedy, R2Q_MethodRefined]> {
  let cppNamespace = "::r2q";
  let genSpecializedAttr = 0;
}

def R2Q_SchemeAttr : AttrDef<R2Q_Dialect, "Scheme"> {
  let mnemonic = "scheme";
  let summary = "how a weight matrix is quantized";
  let description = [{
    The parameters of R2Q quantization:

    * `group_size`: consecutive weights along K sharing one scale per plane; a
      positive multiple of 8. It need not divide K: the last group of a row is
      then shorter (the remaining `K - G * floor(K / G)` weights, with scales
      of their own);
    * `planes`: number of sign bitplanes `P`, 1 to 4 (bits per weight before
      scales);
    * `method`: `greedy` (the paper: each plane is the sign of the previous
      residual, its scale the residual's mean magnitude) or `refined` (greedy,
      then alternating least-squares scales and nearest-level signs while the
      error decreases);
    * `scale_type`: element type the scales are stored in: `f32`, `f16` or
      `bf16`.

    Storage is `planes * (1 + bits(scale_type) / group_size)` bits per weight
    when the group size divides K: 2.25 for `group_size = 128, planes = 2,
    scale_type = f16`. Otherwise the shorter last group and the padding of the
    sign rows make it slightly more.

    Example:

    ```mlir
    #r2q.scheme<group_size = 128, planes = 2, method = greedy, scale_type = f16>
    ```
  }];
  let parameters = (ins
    "int64_t":$groupSize,
    "int64_t":$planes,
    "::r2q::Method":$method,
    "::mlir::Type":$scaleType
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Storage bits per weight when the group size divides K: planes and
    /// their share of the scales.
    double getBitsPerWeight() const;
    /// The sign planes of an N x K weight: planes x N x ceil(K/8) x i8.
    ::mlir::RankedTensorType getSignsType(int64_t n, int64_t k) const;
    /// The scales of an N x K weight: planes x N x ceil(K/group_size).
    ::mlir::RankedTensorType getScalesType(int64_t n, int64_t k) const;
  }];
}

#endif // R2Q_DIALECT_R2Q_IR_R2QATTRS_TD
