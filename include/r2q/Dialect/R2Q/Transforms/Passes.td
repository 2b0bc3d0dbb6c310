//===- Passes.td - r2q transformation passes ---------------*- tablegen -*-===//

#ifndef R2Q_DIALECT_R2Q_TRANSFORMS_PASSES_TD
#define R2Q_DIALECT_R2Q_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def R2QQuantizeLinearPass : Pass<"r2q-quantize-linear"> {
  let summary = "rewrite float linear layers into r2q ops on 2-bit weights";
  let description = [{
    Finds every float contraction (anything `linalg::isaContractionOpInterface`
    accepts: `linalg.matmul` with or without `indexing_maps`,
    `linalg.batch_matmul`, `linalg.contract`, contraction `linalg.generic`)
    whose one operand is a 2-D weight and replaces it by an `r2q.matmul` on
    the quantized weight. It runs on every function-like op inside the op it
    is scheduled on.

    Only weights are quantized, never activations. A weight is a static
    `N x K` (or `K x N`) float tensor that is either

    * a compile-time constant: an `arith.constant` (`dense`,
      `dense_resource`, splat) or the value of an immutable
      `ml_program.global` (`ml_program.global_load_const`), reached through
      any chain of pure ops r2q can evaluate: `tensor.extract_slice` (a
      slice of a fused QKV or gate-up matrix), `tensor.collapse_shape` /
      `expand_shape` (a 3-D weight), `tensor.cast`, `linalg.transpose`,
      `linalg.broadcast`, and element-wise linalg ops or arith ops on
      tensors (`w * c`, `w / c`, `arith.extf` of f16 or bf16 weights,
      int8 or int4 weights dequantized by `arith.sitofp` / `uitofp` with a
      scale and zero point); the chain is evaluated at compile time (no
      tensor in it larger than `max-fold-elements`) and the weight it
      yields is quantized; or
    * a function argument the user marked as a weight, with the argument
      attribute `r2q.weight` or the option `weight-args=<function>:arg<i>`;
      it gets an `r2q.quantize` that runs when the function does.

    The weight may reach the contraction through `linalg.transpose`,
    `linalg.broadcast` over batch dimensions, unit-dim reshapes,
    `tensor.cast` and element-wise `arith.extf` generics, as Torch-MLIR emits
    them. `K` is the contraction's single reduction dimension; groups run
    along `K`. When both operands are weights, a constant wins over an
    argument and the right-hand operand over the left. A contraction of two
    activations (attention scores, `x * x^T`) is never rewritten: every float
    contraction left alone gets a remark `contraction left in float: ...`
    saying what each operand is. A weight used by several contractions is
    quantized once.

    Constant weights are quantized at compile time by the numerics core:
    the rewritten function carries packed sign planes and scales, not float
    weights; private `ml_program.global`s left unused are erased. Where f16
    or bf16 scales would round to zero for groups of non-zero weights (tiny
    weights), the layer gets f32 scales and a warning.

    Before:

    ```mlir
    %wt = linalg.transpose ins(%w : tensor<256x512xf32>)
        outs(%e : tensor<512x256xf32>) permutation = [1, 0]
    %y = linalg.matmul ins(%x, %wt : tensor<?x512xf32>, tensor<512x256xf32>)
        outs(%zero : tensor<?x256xf32>) -> tensor<?x256xf32>
    ```

    After (constant `%w`):

    ```mlir
    %signs = arith.constant dense_resource<...> : tensor<2x256x64xi8>
    %scales = arith.constant dense_resource<...> : tensor<2x256x4xf16>
    %y = r2q.matmul %x, %signs, %scales group_size 128
        : tensor<?x512xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16>
        -> tensor<?x256xf32>
    ```

    Layers are named, for filters and remarks, by the first of: a string
    attribute `r2q.layer` on the contraction, a name in its location, the
    `dense_resource` key of its weight, `<function>:arg<i>` for an argument
    weight, `<function>:linear<i>` (i-th contraction of the function).

    A layer whose `K` the group size does not divide is left in float with a
    remark; NaN or infinite constant weights are errors that name the layer
    and the position `(row, column)` in the `N x K` weight.
  }];
  let options = [
    Option<"groupSize", "group-size", "int64_t", "128",
           "Weights per group along K (a positive multiple of 8)">,
    Option<"planes", "planes", "int64_t", "2",
           "Sign bitplanes per weight, 1 to 4">,
    Option<"method", "method", "::r2q::Method", "::r2q::Method::Greedy",
           "How signs and scales are chosen",
           [{::llvm::cl::values(
               clEnumValN(::r2q::Method::Greedy, "greedy",
                          "the paper's greedy residual stages"),
               clEnumValN(::r2q::Method::Refined, "refined",
                          "greedy, then alternating refinement"))}]>,
    Option<"scaleType", "scale-type", "::r2q::quant::FloatType",
           "::r2q::quant::FloatType::F16", "Element type of the scales",
           [{::llvm::cl::values(
               clEnumValN(::r2q::quant::FloatType::F32, "f32", "32-bit float"),
               clEnumValN(::r2q::quant::FloatType::F16, "f16", "16-bit float"),
               clEnumValN(::r2q::quant::FloatType::BF16, "bf16", "bfloat16"))}]>,
    Option<"minWeights", "min-weights", "int64_t", "0",
           "Leave layers with fewer weights (N * K) in float">,
    ListOption<"include", "include", "std::string",
               "Quantize only layers whose name matches one of these regexes">,
    ListOption<"exclude", "exclude", "std::string",
               "Leave layers whose name matches one of these regexes in float">,
    Option<"stats", "stats", "bool", "false",
           "Emit a remark per layer: shape, group size, bits per weight and "
           "relative reconstruction error">,
    ListOption<"weightArgs", "weight-args", "std::string",
               "Function arguments that are weights, as <function>:arg<i> "
               "(besides those with the r2q.weight attribute)">,
    Option<"maxFoldElements", "max-fold-elements", "int64_t", "1 << 28",
           "Largest tensor (in elements) evaluated at compile time on the "
           "way to a weight; larger producer chains stay in float">,
  ];
  let dependentDialects = [
    "::r2q::R2QDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def R2QDecomposeQuantizePass : Pass<"r2q-decompose-quantize"> {
  let summary = "expand greedy r2q.quantize into its r2q.residual stages";
  let description = [{
    Rewrites every `r2q.quantize` with the `greedy` method into the chain of
    one-bit stages it is defined by: the weight is extended to f32, then
    `planes` `r2q.residual` ops each take the residual left by the previous
    one, and their sign planes and scales are stacked along a new leading
    plane dimension. The result is bit-for-bit what `r2q.quantize` computes.
    This is how weights only known at run time are quantized; constant
    weights fold instead. `refined` quantizations have no such form and are
    left alone.

    Before:

    ```mlir
    %s, %a = r2q.quantize %w scheme <group_size = 128, planes = 2> : tensor<256x512xf32>
    ```

    After:

    ```mlir
    %s0, %a0, %r1 = r2q.residual %w group_size 128 : tensor<256x512xf32>
        -> tensor<256x64xi8>, tensor<256x4xf16>, tensor<256x512xf32>
    %s1, %a1, %r2 = r2q.residual %r1 group_size 128 : ...
    // %s = [%s0, %s1] and %a = [%a0, %a1] through tensor.insert_slice
    ```
  }];
  let dependentDialects = [
    "::r2q::R2QDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def R2QPrepareCPULoopsPass : Pass<"r2q-prepare-cpu-loops"> {
  let summary = "fold constant transposes and order contraction loops for CPU";
  let description = [{
    Readies linalg on tensors for lowering to loops that LLVM vectorizes, for
    float and r2q layers alike, so that both are compiled the same way:

    * a 2-D `linalg.transpose` of a constant becomes the transposed constant
      (Torch-MLIR transposes every `nn.Linear` weight at run time otherwise);
    * named linalg ops become `linalg.generic`;
    * a contraction whose innermost loop is a reduction gets the parallel loop
      that indexes the innermost output dimension moved innermost, when that
      loop is the innermost index of every operand it indexes: the inner loop
      then reads and writes contiguous memory and vectorizes without
      reassociating the reduction: `(m, n, k)` becomes `(m, k, n)` for
      `y[m][n] += x[m][k] * w[k][n]`.

    Before:

    ```mlir
    %wt = linalg.transpose ins(%w_const : tensor<256x512xf32>) ...
    %y = linalg.matmul ins(%x, %wt : tensor<?x512xf32>, tensor<512x256xf32>) ...
    ```

    After: `%wt` is an `arith.constant` of `tensor<512x256xf32>` and `%y` a
    `linalg.generic` with `iterator_types = ["parallel", "reduction",
    "parallel"]`.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def R2QExpandShapesToReinterpretCastsPass
    : Pass<"r2q-expand-shapes-to-reinterpret-casts"> {
  let summary = "lower memref.expand_shape that splits into several dynamic sizes";
  let description = [{
    Upstream MLIR 22's `expand-strided-metadata` crashes on a
    `memref.expand_shape` that splits one dimension into several dynamic ones
    (llvm/llvm-project#186830, fixed for LLVM 23): exactly what restores a
    `[batch?, seq?, hidden]` activation after a 2-D matmul. This pass lowers
    those expands itself, before `expand-strided-metadata` runs, to a
    `memref.reinterpret_cast` of the source's base with the output sizes and
    the strides they imply (each group's innermost size keeps the source
    dimension's stride; outer ones multiply it by the sizes inside them).
    Other expands are left to `expand-strided-metadata`.

    Before:

    ```mlir
    %r = memref.expand_shape %m [[0, 1], [2]] output_shape [%b, %s, 48]
        : memref<?x48xf32> into memref<?x?x48xf32>
    ```

    After:

    ```mlir
    %base, %offset, %sizes:2, %strides:2 = memref.extract_strided_metadata %m
    %r = memref.reinterpret_cast %base to offset: [%offset],
        sizes: [%b, %s, 48], strides: [%stride, 48, 1] : ...
    ```
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

def R2QEmitCInterfacePass : Pass<"r2q-emit-c-interface"> {
  let summary = "give public functions a C interface for JITs and C callers";
  let description = [{
    Adds `llvm.emit_c_interface` to every public `func.func` with a body, so
    that `convert-func-to-llvm` also emits `_mlir_ciface_<name>`, which takes
    and returns memrefs as pointers to descriptors. r2q's JIT and the
    benchmarks call compiled functions through these wrappers.
  }];
}

def R2QVerifyLLVMContractPass : Pass<"r2q-verify-llvm-contract", "::mlir::ModuleOp"> {
  let summary = "check that a module holds nothing but LLVM dialect ops";
  let description = [{
    The last step of `r2q-cpu-pipeline`: what it promises the next stage
    (`mlir-translate --mlir-to-llvmir`, `mlir-runner`, the ExecutionEngine)
    is a module of LLVM dialect ops only. Any other op is reported at its
    location, naming the op, and the pass fails.
  }];
}

#endif // R2Q_DIALECT_R2Q_TRANSFORMS_PASSES_TD
