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

    A weight that already is an R2Q code, `r2q.dequantize` of constant sign
    planes and scales (how `r2q.torch.compile` exports a model trained with
    `R2QLinear`), keeps its code: the `r2q.matmul` reads those constants
    with the code's group size, and the scheme options do not apply to it.
    Quantizing the decoded weight again would not give the code back (the
    greedy first scale `mean|w|` of a two-plane code is `a_1 + a_2 *
    mean(s_1 s_2)`, not `a_1`). A code read as a `K x N` weight is an
    error at the layer.

    With `calibration=<path>` (a directory, or its `index.json`, written by
    `python -m r2q_eval calibrate`: per layer name the `X^T X` of the
    layer's input and its diagonal as float64 `.npy` files), the constant
    weights of the layers it names are quantized for the layer's output
    error `||X (W - W_hat)^T||^2` instead of the weight error: GPTQ-style
    error feedback on the R2Q lattice from the full `X^T X`
    (`calibration-mode=gram`, the default), or importance-weighted scales
    from its diagonal (`calibration-mode=diagonal`). A layer the file does
    not name gets a warning and is quantized without; statistics of another
    size are an error at the layer.

    A contraction carrying `r2q.scheme = #r2q.scheme<...>` (chosen by
    `-r2q-tune-group-size`, or written by the user) is quantized with that
    scheme instead of the pass's `group-size`, `planes`, `method` and
    `scale-type`; the other options apply to it as to every layer.

    Layers are named, for filters and remarks, by the first of: a string
    attribute `r2q.layer` on the contraction, a name in its location, the
    `dense_resource` key of its weight, `<function>:arg<i>` for an argument
    weight, `<function>:linear<i>` (i-th contraction of the function).

    A layer whose `K` the group size does not divide is quantized with a
    shorter last group (`ceil(K / group_size)` scales per row, the last ones
    computed over the remaining `K mod group_size` weights; see
    `docs/format.md`); with `ragged-groups=false` it is left in float with a
    remark instead. A layer with `K = 0` or `N = 0` is left in float with a
    remark. NaN or infinite constant weights are errors that name the layer
    and the position `(row, column)` in the `N x K` weight.

    Dense + sparse R2Q (`docs/format.md`, "Outliers"): with `outliers=<f>`
    (the fraction `f` of each matrix's weights with the largest magnitudes)
    and/or `outlier-threshold=<t>` (every weight above `t` times the RMS
    magnitude of its group), those weights are left out of the scales and
    kept exactly, as CSR corrections of type `outlier-type` (f16 or f32)
    folded into three more constants beside the planes and scales
    (`<layer>_outlier_offsets`, `_outlier_columns`, `_outlier_values`) and
    passed to `r2q.matmul` as its `outliers(...)` operands. A layer whose
    weight selects no outlier gets none. Outliers need a compile-time
    constant weight: a marked argument weight (quantized at run time) with
    outliers requested is an error at its layer. With `stats`, the remark
    also gives the number of outliers, and the bits per weight count their
    offsets, columns and values.

    ```mlir
    %y = r2q.matmul %x, %signs, %scales
        outliers(%offsets, %columns, %values) group_size 128
        : tensor<?x512xf32>, tensor<2x256x64xi8>, tensor<2x256x4xf16>,
          outliers(tensor<257xi32>, tensor<655xi16>, tensor<655xf16>)
        -> tensor<?x256xf32>
    ```
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
    Option<"raggedGroups", "ragged-groups", "bool", "true",
           "Quantize layers whose K the group size does not divide, with a "
           "shorter last group; false leaves them in float">,
    Option<"stats", "stats", "bool", "false",
           "Emit a remark per layer: shape, group size, bits per weight and "
           "relative reconstruction error">,
    ListOption<"weightArgs", "weight-args", "std::string",
               "Function arguments that are weights, as <function>:arg<i> "
               "(besides those with the r2q.weight attribute)">,
    Option<"outlierFraction", "outliers", "double", "0",
           "Dense + sparse R2Q: keep this fraction of each constant weight "
           "matrix's largest weights exactly, as corrections beside the "
           "planes (0: none)">,
    Option<"outlierThreshold", "outlier-threshold", "double", "0",
           "Dense + sparse R2Q: also keep every weight larger than this many "
           "times the RMS magnitude of its group (0: none)">,
    Option<"outlierType", "outlier-type", "::r2q::quant::FloatType",
           "::r2q::quant::FloatType::F16",
           "Element type of the stored outlier corrections",
           [{::llvm::cl::values(
               clEnumValN(::r2q::quant::FloatType::F16, "f16", "16-bit float"),
               clEnumValN(::r2q::quant::FloatType::F32, "f32", "32-bit float"))}]>,
    Option<"maxFoldElements", "max-fold-elements", "int64_t", "1 << 28",
           "Largest tensor (in elements) evaluated at compile time on the "
           "way to a weight; larger producer chains stay in float">,
    Option<"calibration", "calibration", "std::string", "",
           "Input statistics of the layers (a directory or its index.json, "
           "as `python -m r2q_eval calibrate` writes them): constant weights "
           "of the layers it names are quantized for their output error">,
    Option<"calibrationMode", "calibration-mode", "std::string", "\"gram\"",
           "gram: error feedback from the full X^T X (GPTQ-style); diagonal: "
           "importance-weighted scales from its diagonal">,
  ];
  let dependentDialects = [
    "::r2q::R2QDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def R2QTuneGroupSizePass : Pass<"r2q-tune-group-size", "::mlir::ModuleOp"> {
  let summary = "choose each linear layer's group size, planes and method "
                "under a bit budget";
  let description = [{
    Layers differ: some are much harder to quantize than others. For every
    linear layer with a compile-time constant weight (the layers
    `-r2q-quantize-linear` finds, `docs/rationale.md`), this pass quantizes
    the actual weight with every candidate scheme (`group-sizes` x `planes`
    x `methods`, with the scale type and the outlier options given here),
    measures the bits it stores (sign planes, scales, outliers, padding:
    what the compiled module will hold) and its squared reconstruction error
    `||W - W_hat||^2`, and chooses one scheme per layer:

    * with `budget-bpw=<b>`: the least total error (each layer's error times
      its importance) with at most `b` bits per weight over all the tuned
      layers together. Exact (dynamic programming over the Pareto frontier
      of bits and error) while that frontier stays small (tens of layers);
      beyond that by marginal gain (bits go where the error drops most per bit), never
      worse than the best uniform scheme that fits. A budget below the
      cheapest candidates is an error naming the least achievable one.
    * with `max-rel-error=<e>`: per layer, the cheapest scheme whose
      relative error `||W - W_hat|| / ||W||` is at most `e`, or the most
      accurate one with a warning where none is.

    The choice is written on each contraction as `r2q.scheme =
    #r2q.scheme<...>`, which `-r2q-quantize-linear` then uses for that layer
    instead of its own options (a user may write it by hand too). Give
    `-r2q-quantize-linear` the same outlier options, so that the bits it
    stores are the ones counted here. A weight shared by several layers is
    tuned and counted once.

    With `calibration=<path>` (the statistics `-r2q-quantize-linear` reads),
    the error is activation-aware: each candidate is quantized with the
    diagonal of the layer's `X^T X` (importance-weighted scales) and scored
    by `sum_n sum_k (X^T X)_kk (w_nk - w_hat_nk)^2`, the output error when
    input features are uncorrelated; relative errors are then relative to
    `sum (X^T X)_kk w_nk^2`. Layers the file does not name are scored on
    their weights, with a warning.

    `importance=<path>` names a JSON object mapping layer names (as in
    `-r2q-quantize-linear`) to a non-negative weight of that layer's error
    (e.g. the norm of its inputs that a user collected); layers it does not
    name weigh 1.

    Every tuned layer gets a remark with its scheme, bits per weight and
    relative error, next to the uniform baseline (group size 128, 2 planes,
    the first method) it replaces; the module gets one with the totals.
    Layers whose weight is a marked function argument (quantized at run
    time) are not tuned: they keep the options of `-r2q-quantize-linear`.

    Example: `r2q-opt --r2q-tune-group-size=budget-bpw=2.25
    --r2q-quantize-linear` quantizes at 2.25 bits per weight on average,
    spending more planes or smaller groups on the layers that need them.

    ```mlir
    %y = linalg.matmul {r2q.scheme = #r2q.scheme<group_size = 64, planes = 2,
        method = greedy, scale_type = f16>} ins(%x, %wt : ...) outs(...)
    ```
  }];
  let options = [
    Option<"budgetBitsPerWeight", "budget-bpw", "double", "0",
           "Bits per weight for all tuned layers together, scales and "
           "outliers counted (0: no budget)">,
    Option<"maxRelativeError", "max-rel-error", "double", "0",
           "Instead of a budget: per layer, the cheapest scheme with at most "
           "this relative reconstruction error (0: no target)">,
    ListOption<"groupSizes", "group-sizes", "std::string",
               "Candidate group sizes: positive multiples of 8 or "
               "'per-channel' (one group per row); default 32, 64, 128, 256, "
               "512 and per-channel">,
    ListOption<"planeCounts", "planes", "int64_t",
               "Candidate numbers of sign planes, 1 to 4; default 1, 2, 3, 4">,
    ListOption<"methods", "methods", "std::string",
               "Candidate methods, greedy and/or refined; default greedy">,
    Option<"scaleType", "scale-type", "::r2q::quant::FloatType",
           "::r2q::quant::FloatType::F16", "Element type of the scales",
           [{::llvm::cl::values(
               clEnumValN(::r2q::quant::FloatType::F32, "f32", "32-bit float"),
               clEnumValN(::r2q::quant::FloatType::F16, "f16", "16-bit float"),
               clEnumValN(::r2q::quant::FloatType::BF16, "bf16", "bfloat16"))}]>,
    Option<"raggedGroups", "ragged-groups", "bool", "true",
           "Allow group sizes that do not divide K (a shorter last group)">,
    Option<"outlierFraction", "outliers", "double", "0",
           "As in -r2q-quantize-linear: the fraction of each weight kept "
           "exactly (counted in the bits)">,
    Option<"outlierThreshold", "outlier-threshold", "double", "0",
           "As in -r2q-quantize-linear: keep weights above this many RMS of "
           "their group exactly">,
    Option<"outlierType", "outlier-type", "::r2q::quant::FloatType",
           "::r2q::quant::FloatType::F16",
           "Element type of the stored outlier corrections",
           [{::llvm::cl::values(
               clEnumValN(::r2q::quant::FloatType::F16, "f16", "16-bit float"),
               clEnumValN(::r2q::quant::FloatType::F32, "f32", "32-bit float"))}]>,
    Option<"importance", "importance", "std::string", "",
           "JSON file: layer name -> weight of its error (default 1)">,
    Option<"calibration", "calibration", "std::string", "",
           "Input statistics of the layers (as in -r2q-quantize-linear): "
           "candidates are quantized with the diagonal of X^T X and scored "
           "by the output error it weighs, sum_k (X^T X)_kk (w_k - w_hat_k)^2">,
    Option<"maxFoldElements", "max-fold-elements", "int64_t", "1 << 28",
           "As in -r2q-quantize-linear: largest tensor evaluated at compile "
           "time on the way to a weight">,
  ];
  let dependentDialects = ["::r2q::R2QDialect"];
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
    weights are folded by `r2q-fold-constant-weights` instead. `refined`
    quantizations have no such form and are left alone.

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
    * a `tensor.empty` with several uses becomes one per use: CSE merges
      identical empty tensors, which puts the outputs of every layer into one
      alias set, and One-Shot Bufferize's analysis then grows with the square
      of the number of layers (400 Llama-shaped layers: 1.1 s, 800: 10 s);
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
    is a module of LLVM dialect ops only, and the OpenMP dialect ops of
    parallel loops (`omp.parallel`, `omp.wsloop`, which translate to calls of
    `libomp`). Any other op is reported at its location, naming the op, and
    the pass fails.
  }];
}

def R2QFoldConstantWeightsPass : Pass<"r2q-fold-constant-weights"> {
  let summary = "quantize constant weights at compile time, of any size";
  let description = [{
    Evaluates every `r2q.quantize`, `r2q.residual` and `r2q.dequantize` whose
    operands are all constants (`dense`, splat or `dense_resource`) through
    the numerics core and replaces it by `arith.constant`s of its results:
    packed sign planes and scales, the next residual, the reconstructed
    weight. Results over 1 KiB become `dense_resource` blobs. Float weights
    left without users are erased, so the module carries 2.25 bits per
    weight, not 32. Ops are visited in program order, so
    `r2q.dequantize(r2q.quantize(constant))` folds to the reconstruction.

    This is where heavy constant quantization runs, in the style of TOSA's
    layerwise constant folding: the ops' fold hooks, which any
    `--canonicalize` triggers, only evaluate weights of up to 4096 elements,
    because quantizing a real layer takes milliseconds to seconds (refined
    method) and a model has hundreds of them. `r2q-cpu-pipeline` runs this
    pass first. (`r2q-quantize-linear` quantizes the constant weights of
    the layers it rewrites itself and needs no folding afterwards.)

    A constant the core rejects is an error at the op, naming the position:
    `r2q.quantize` of a NaN or infinite weight, a scale that overflows its
    type, or constant data that cannot be read (an elided, missing or
    wrongly sized `dense_resource` blob). Ops with a non-constant operand
    are left alone.

    Before:

    ```mlir
    %w = arith.constant dense_resource<torch_tensor_4096_4096> : tensor<4096x4096xf32>
    %s, %a = r2q.quantize %w scheme <group_size = 128, planes = 2> : tensor<4096x4096xf32>
    ```

    After:

    ```mlir
    %s = arith.constant dense_resource<r2q_signs> : tensor<2x4096x512xi8>
    %a = arith.constant dense_resource<r2q_scales> : tensor<2x4096x32xf16>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def R2QVerifyResourceBlobsPass : Pass<"r2q-verify-resource-blobs"> {
  let summary = "check that every dense_resource blob has its type's size";
  let description = [{
    MLIR 22's parser accepts a `dense_resource` whose blob is shorter or
    longer than its type needs, or that has no entry in the
    `dialect_resources` section at all; whatever reads the constant later
    (constant folding, `mlir-translate`, `mlir-runner`) then reads past the
    blob's end or finds no data. This pass walks every attribute of every
    op in the scope it runs on and reports each `dense_resource` whose blob
    is missing (or elided) or holds a different number of bytes than its
    shape and element type need, at the op that holds it:

    ```
    error: dense_resource 'torch_tensor_64_128' holds 32764 bytes, but
    tensor<64x128xf32> needs 32768 (truncated blob)
    ```

    The blob's 4-byte alignment header is checked by the parser itself
    (it must be a power of two). `r2q-cpu-pipeline` runs this pass first,
    on float and r2q layers alike.
  }];
}

def R2QPackWeightsPass : Pass<"r2q-pack-weights"> {
  let summary = "store constant lut_gemv and byte_lut_gemv weights in the "
                "row-interleaved layout";
  let description = [{
    Rewrites the constant sign planes and scales of every `r2q.matmul` whose
    kernel is `lut_gemv` or `byte_lut_gemv` (as `r2q-select-cpu-kernels`,
    `r2q-select-gpu-kernels` or the user chose it) into the row-interleaved
    layout (`docs/format.md`, "The
    row-interleaved layout"): per plane and block of 16 output features, the
    bytes of the 16 rows in the order the kernel's table lookups consume
    them, in passes of 2048 columns over all blocks, and the 16 rows' scales
    of each group side by side; rows past N and bytes past ceil(K/8) zero.
    The op's kernel gets `layout = row_interleaved`, and the kernel then
    loads each step's 16 vectors of sign bytes and each group's 16 scales
    with plain loads instead of transposing 16 rows in registers and
    gathering scales, and reads both front to back, one pass at a time.

    Only constant weights (`dense`, splat or `dense_resource` signs and
    scales) can be packed at compile time: ops whose weights are computed or
    passed in at run time keep the canonical layout (and the in-register
    transpose), and so do ops already in a packed layout and ops of other
    strategies. Constants shared by several ops are packed once. Packed data over 1 KiB becomes a
    `dense_resource` blob; a canonical constant is erased when nothing
    else reads it. Unreadable constant data (an elided or wrongly sized
    blob) is an error at the op.

    The layout pads each block to 16 rows and each row to a multiple of 64
    bytes (512 columns). Real layers need little of it (N a multiple of 16;
    K = 11008: 2.3%), small or oddly shaped ones much more (K = 576: 78%;
    a 8 x 64 weight: 16 times its size). The signs are packed only where the
    packed signs are at most `max-padding` (a fraction, default 1/8) larger
    than the canonical ones; the others keep the canonical layout.

    `byte_lut_gemv` (the GPU's one-row kernel) reads its 16-byte pieces the
    same way: one 128-bit load is one sign byte of 16 rows, so one table
    lookup per byte and row. `r2q-select-gpu-kernels` chooses it only for
    weights this pass can pack, and `r2q-gpu-pipeline` runs this pass right
    after that selection.

    `r2q-cpu-pipeline` runs this pass after
    `r2q-select-cpu-kernels` and before `r2q-outline-kernels`, so that the
    layout is part of the kernel that outlining keys on;
    `r2q-cpu-pipeline{pack-weights=false}` leaves it out and
    `{pack-max-padding=F}` sets `max-padding`.

    Before:

    ```mlir
    %s = arith.constant dense_resource<r2q_signs> : tensor<2x4096x512xi8>
    %a = arith.constant dense_resource<r2q_scales> : tensor<2x4096x32xf16>
    %y = r2q.matmul %x, %s, %a group_size 128
        {kernel = #r2q.kernel<strategy = lut_gemv, precision = fast,
                              target = avx512, ...>}
        : tensor<1x4096xf32>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16>
        -> tensor<1x4096xf32>
    ```

    After:

    ```mlir
    %s = arith.constant dense_resource<r2q_signs_row_interleaved>
        : tensor<2x256x8192xi8>
    %a = arith.constant dense_resource<r2q_scales_row_interleaved>
        : tensor<2x256x512xf16>
    %y = r2q.matmul %x, %s, %a group_size 128
        {kernel = #r2q.kernel<strategy = lut_gemv, precision = fast,
                              target = avx512, layout = row_interleaved, ...>}
        : tensor<1x4096xf32>, tensor<2x256x8192xi8>, tensor<2x256x512xf16>
        -> tensor<1x4096xf32>
    ```
  }];
  let options = [
    Option<"maxPadding", "max-padding", "double",
           "::r2q::kDefaultPackMaxPadding",
           "Pack only where the packed signs are at most this fraction "
           "larger than the canonical ones (0: only shapes that need no "
           "padding)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def R2QOutlineKernelsPass : Pass<"r2q-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "call one private kernel function per distinct r2q.matmul";
  let description = [{
    Replaces every `r2q.matmul` in a `func.func` by a `func.call` of a
    private function whose body is that `r2q.matmul` alone. Ops with the same
    operand and result types and the same attributes (group size, and any
    lowering choice carried as an attribute) share one function per symbol
    table, so a model exported as one function with hundreds of linear layers
    of a few shapes gets a few kernels. Their loops are then lowered,
    bufferized and converted to LLVM once per kernel, not once per layer:
    compile time stays linear in the number of layers (`r2q-cpu-pipeline`
    runs this pass before `convert-r2q-to-linalg`).

    The weights stay where they were: their sign planes and scales (constants
    or not) become call operands. Dynamic batch dimensions stay dynamic in
    the kernel's signature. Kernels are `no_inline`, which the MLIR inliner
    respects (LLVM decides for itself, and keeps large kernels with many
    callers out of line); a second run recognizes them (a private `no_inline`
    function returning one `r2q.matmul` of its arguments) and leaves them
    alone. An `r2q.layer` name stays on the call and does not make a kernel
    distinct. Kernels are named
    `r2q_matmul_<N>x<K>_g<G>`, with a counter appended when several kernels
    share a shape. The outliers of dense + sparse R2Q are call operands too;
    their number differs from layer to layer, so their columns and values
    are cast to a dynamic size (`tensor.cast` to `tensor<?x...>`) at the
    call and layers of one shape still share one kernel.

    Before:

    ```mlir
    func.func @mlp(%x: tensor<?x512xf32>) -> tensor<?x512xf32> {
      %s0 = arith.constant dense_resource<up_signs> : tensor<2x512x64xi8>
      %a0 = arith.constant dense_resource<up_scales> : tensor<2x512x4xf16>
      %h = r2q.matmul %x, %s0, %a0 group_size 128
          : tensor<?x512xf32>, tensor<2x512x64xi8>, tensor<2x512x4xf16>
          -> tensor<?x512xf32>
      %s1 = arith.constant dense_resource<down_signs> : tensor<2x512x64xi8>
      %a1 = arith.constant dense_resource<down_scales> : tensor<2x512x4xf16>
      %y = r2q.matmul %h, %s1, %a1 group_size 128 : ...
      return %y : tensor<?x512xf32>
    }
    ```

    After:

    ```mlir
    func.func @mlp(%x: tensor<?x512xf32>) -> tensor<?x512xf32> {
      ...
      %h = call @r2q_matmul_512x512_g128(%x, %s0, %a0)
          : (tensor<?x512xf32>, tensor<2x512x64xi8>, tensor<2x512x4xf16>)
          -> tensor<?x512xf32>
      %y = call @r2q_matmul_512x512_g128(%h, %s1, %a1) : ...
      return %y : tensor<?x512xf32>
    }
    func.func private @r2q_matmul_512x512_g128(%x: tensor<?x512xf32>,
        %s: tensor<2x512x64xi8>, %a: tensor<2x512x4xf16>)
        -> tensor<?x512xf32> attributes {no_inline} {
      %y = r2q.matmul %x, %s, %a group_size 128 : ...
      return %y : tensor<?x512xf32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::tensor::TensorDialect"];
}

def R2QSelectGPUKernelsPass : Pass<"r2q-select-gpu-kernels"> {
  let summary = "choose the kernel of every r2q.matmul for an NVIDIA GPU";
  let description = [{
    The GPU counterpart of `r2q-select-cpu-kernels`, run by
    `r2q-gpu-pipeline`: sets the `kernel` attribute of every `r2q.matmul`
    that has none (an op that has one keeps it, if it is a GPU strategy).

    * Strategy: for one row and a weight that `r2q-pack-weights` can pack
      (constant, padded by at most 1/8) `byte_lut_gemv` (256-entry tables
      of the signed sums of 8 activations in shared memory, looked up by
      whole sign bytes of the row-interleaved layout, 16 output features
      per 128-bit load; the columns split among blocks whose sums meet in
      atomic adds; f32); otherwise, for a batch of fewer than 16 rows
      `warp_lut_gemv` (tables
      of the activations in shared memory, looked up by the sign nibbles;
      batch tiles of up to 4 rows), from 16 rows on `mma_gemm` (tiles of
      the weight decoded to f16 in shared memory and multiplied on tensor
      cores with mma.sync, f32 accumulators; the activations rounded to f16
      after a per-row power of two, so it is lossy within the bound in
      `docs/gpu.md`). `precision=exact` keeps `warp_lut_gemv` at every
      batch (the default is `fast`: unlike the CPU's, the GPU's tensor-core
      path and the fp16 baseline it competes with round to f16). The
      `strategy` option forces one kernel, or `warp_gemv` (sign flips by
      xor; batch tiles of up to 8 rows), or `wgmma_gemm` (`mma_gemm`'s
      tiles multiplied by sm_90a's warpgroup instruction `wgmma.mma_async`
      from 128-byte swizzled shared memory; `auto` does not take it before
      a GPU run has timed it against `mma_gemm`), for every op (`mma_gemm`
      or `wgmma_gemm` with `precision=exact` is an error). Measured
      on an H200 (`docs/performance.md`), the tables took 1.4-2.2 times
      less time than the xor kernel at batch 1, and 3-19 times less at
      batch 4. All take a static batch and weight shape: an op with dynamic
      rows or weight is an error at the op (`r2q-gpu-pipeline` first gives
      dynamic batches static ones: `r2q-bucket-rows`), as is a CPU strategy
      written on an op.
    * Chip: `mma_gemm`'s `ldmatrix` and `mma.sync` m16n8k16 need sm_80 or
      newer, so for an older `chip` (sm_75, ...) `strategy=auto` takes
      `warp_lut_gemv` instead, and `mma_gemm` forced or written on an op is
      an error at the op; a `chip` that is not `sm_` and a number is an
      error, and so is a `cubin-features` PTX version older than the chip
      needs (sm_100 needs `+ptx86`; LLVM's NVPTX backend would stop with a
      fatal error). `wgmma_gemm` needs `chip=sm_90a` exactly (an error at
      the op otherwise).
    * `tile_rows`: the `tile-rows` option, or 0 (the strategy's default):
      for the warp kernels the output features per warp (4 for
      `warp_lut_gemv`; 4, 2 or 1 as the batch tile grows for `warp_gemv`),
      for `mma_gemm` and `wgmma_gemm` the output features per block (0 =
      128, or 64 or 192), for `byte_lut_gemv` the output features per warp (0: 64, fewer
      on small layers; a multiple of 16 up to 128); with `strategy=auto`
      the option applies to `warp_lut_gemv` only, and `mma_gemm` and
      `byte_lut_gemv` keep their defaults.

    ```mlir
    %y = r2q.matmul %x, %signs, %scales group_size 128
        {kernel = #r2q.kernel<strategy = warp_lut_gemv, vector_width = 16,
                  tile_rows = 0, threads = 1>} : ...
    ```
  }];
  let options = [
    Option<"strategy", "strategy", "std::string", /*default=*/"\"auto\"",
           "auto (byte_lut_gemv for one row and a packable constant "
           "weight, warp_lut_gemv below 16 rows, mma_gemm from 16 on), "
           "byte_lut_gemv, warp_lut_gemv, mma_gemm, wgmma_gemm (sm_90a) or "
           "warp_gemv: the kernel of every r2q.matmul without one">,
    Option<"tileRows", "tile-rows", "int64_t", /*default=*/"0",
           "Output features per warp (per block for mma_gemm); 0: the "
           "strategy's default">,
    Option<"precision", "precision", "std::string", /*default=*/"\"fast\"",
           "fast (strategy=auto runs mma_gemm, f16 tensor cores, from 16 "
           "rows on) or exact (the f32 warp kernels at every batch)">,
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90\"",
           "The NVIDIA GPU the kernels are for (sm_80, sm_90, sm_90a, ...): "
           "mma_gemm needs sm_80 or newer, wgmma_gemm sm_90a">,
    Option<"cubinFeatures", "cubin-features", "std::string",
           /*default=*/"\"+ptx80\"",
           "The PTX features the kernels are compiled with (+ptxNN): a PTX "
           "version older than the chip needs is an error here rather than "
           "a fatal error of LLVM's NVPTX backend">,
  ];
}

def R2QSelectCPUKernelsPass : Pass<"r2q-select-cpu-kernels"> {
  let summary = "choose the kernel of every r2q.matmul for a CPU";
  let description = [{
    Sets the `kernel` attribute (`#r2q.kernel`) of every `r2q.matmul` that
    has none, from its shape, its number of activation rows M (the product
    of the input's leading dimensions) and the target's features; an op
    that already has one (written by the user, or a previous run) keeps it.
    `convert-r2q-to-linalg` then lowers each op by the strategy its
    attribute names, so the choice is made once, here, and can be read,
    tested and overridden in the IR.

    * Strategy: for a static M of 1 to 8 on an x86 target with AVX2,
      `lut_gemv` (the table-lookup GEMV; not with `lut-gemv=false`, nor for
      group sizes it does not take: see `#r2q.kernel`); otherwise for
      M <= 2 (decoding) `vector_gemv` (`fused_decode` with
      `vector-gemv=false`), for larger M `tiled_decode`; when M is dynamic,
      `vector_gemv` and `tiled_decode`, with `max_rows = 2` (an `scf.if` on
      M at run time). With `precision=fast` on an x86 target with AVX2,
      `int8_gemm` takes the place of `tiled_decode` (more than 8 static
      rows, or a dynamic batch past 2): activations rounded to int8, byte
      dot products (lossy; the bound is in `docs/rationale.md`). The
      `strategy` option forces one strategy for every op; forcing
      `lut_gemv` or `int8_gemm` for a target without AVX2, or for an op it
      cannot compute, is an error at that op. A `lut_gemv` or `int8_gemm`
      kernel already on an op is checked against the target the same way.
    * `precision` and `target` of `lut_gemv`: `exact` (f32 tables) unless
      the `precision=fast` option asks for the lossy int8 tables (the error
      bound is in `docs/rationale.md`); `avx512` where the target has
      AVX-512 BW, `avx2` otherwise. `vector_gemv` (`strategy=vector_gemv`)
      is the exact fallback computed with masked FMAs, no tables. The
      `target` of `int8_gemm`: `avx512` (vpdpbusd) where the target has
      AVX-512 VNNI and BW, `avx2` (vpmaddubsw, vpmaddwd) otherwise.
    * `vector_width`: two vector registers of f32 of the target: 32 lanes
      with AVX-512 (`+avx512f`), 16 with AVX or AVX2, 8 otherwise. The
      target is the host CPU unless `target-features` names it (LLVM
      feature syntax, e.g. `+avx2,+fma`); `vector-width` overrides.
    * `threads`: the output features are split into this many parts, the
      iterations of a parallel loop (`threads` option; 0: as many as the
      host has hardware threads), but never into parts of fewer than 65536
      weights: a small layer runs on one thread, where the cost of waking
      others would exceed its work.
    * `tile_rows`: for `tiled_decode` (also with dynamic M), the output
      features decoded at once: 256 KiB of f32, at least 8, a multiple of
      8; 0 (all features of a part) otherwise.

    Before:

    ```mlir
    %y = r2q.matmul %x, %signs, %scales group_size 128
        : tensor<?x4096xf32>, tensor<2x14336x512xi8>, tensor<2x14336x32xf16>
        -> tensor<?x14336xf32>
    ```

    After (`threads=2` on an AVX-512 host):

    ```mlir
    %y = r2q.matmul %x, %signs, %scales group_size 128
        {kernel = #r2q.kernel<strategy = vector_gemv, max_rows = 2,
                  otherwise = tiled_decode, vector_width = 32, tile_rows = 16,
                  threads = 2>} : ...
    ```
  }];
  let options = [
    Option<"strategy", "strategy", "std::string", /*default=*/"\"auto\"",
           "auto: chosen by rows and target; fused_decode, tiled_decode, "
           "vector_gemv, lut_gemv, int8_gemm (or warp_gemv / "
           "warp_lut_gemv / mma_gemm / byte_lut_gemv: the GPU kernels' "
           "loop nests on the host, for tests): that strategy for "
           "every r2q.matmul without a kernel">,
    Option<"vectorGemv", "vector-gemv", "bool", /*default=*/"true",
           "auto picks vector_gemv for at most 2 rows; false: fused_decode">,
    Option<"lutGemv", "lut-gemv", "bool", /*default=*/"true",
           "auto picks lut_gemv for a static batch of 1-8 rows on a target "
           "with AVX2; false: never">,
    Option<"precision", "precision", "std::string", /*default=*/"\"exact\"",
           "exact, or fast: lut_gemv's int8 tables and int8_gemm for many "
           "rows (int8 activations, lossy: the bounds are in "
           "docs/rationale.md)">,
    Option<"targetFeatures", "target-features", "std::string",
           /*default=*/"\"\"",
           "LLVM target features of the CPU the code is for (e.g. "
           "+avx512f or +avx2,+fma); empty: the host CPU's">,
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"0",
           "f32 lanes per step of vector_gemv, a power of two of at least "
           "8; 0: two vector registers of the target">,
    Option<"threads", "threads", "int64_t", /*default=*/"0",
           "threads a kernel is split for; 0: the host's hardware threads">,
  ];
}

def R2QTuneTilingPass : Pass<"r2q-tune-tiling"> {
  let summary = "choose the CPU kernel and tiles of each r2q.matmul by its "
                "shape, batch and target";
  let description = [{
    Writes the `kernel` attribute (`#r2q.kernel`: strategy, `tile_rows`,
    `vector_width`) of every `r2q.matmul` with a static batch and weight
    shape that has none; `r2q-select-cpu-kernels`, which runs next, keeps
    it. Ops with a dynamic batch, or a kernel already, are left to the
    selection. `threads` follows the selection's rule (at most `threads`,
    none with fewer than 65536 weights or without a whole tile).
    `r2q-cpu-pipeline{tune=model}` and `{tune=file:PATH}` run it.

    * `mode=model`: an analytical cost model that needs no hardware. For
      each candidate kernel (`lut_gemv` where it applies, `vector_gemv` at
      16, 32 and 64 lanes, `tiled_decode` with 8 to 256 rows per tile) it
      takes the larger of the bytes moved (packed weights, once or once
      per row for `vector_gemv` when they exceed L2; activations; decoded
      tiles re-read per row, from L2 where a tile and all rows of
      activations fit `l2-bytes` together, else from memory) over
      `bandwidth-gbps` or 32 bytes per cycle from
      L2, and of the vector instructions per weight of each strategy
      (docs/tuning.md) over `vector-units` per cycle at `ghz`; the least
      wins. `vector_gemv` steps never cross a group (the lowering's
      widest power of two of lanes that divides the group size).
    * `mode=file file=PATH`: the entries of a tuning file written by
      `r2q-bench-tiling` (JSON, docs/tuning.md), keyed by N, K, group
      size, planes, rows, input and scale types, the target's vector
      features and the tuner version. A file that is not valid is an
      error naming it; an entry for the layer measured for another target
      or tuner version is an error naming the key (never used); a layer
      the file has no entry for is an error naming the key, or, with
      `on-missing=model`, chosen by the cost model with a remark.

    Example: `r2q-opt --r2q-tune-tiling=mode=model` on a 1 x 4096 by
    4096 x 4096 product on an AVX-512 host writes
    `#r2q.kernel<strategy = lut_gemv, vector_width = 32, tile_rows = 16,
    threads = ...>`.
  }];
  let options = [
    Option<"mode", "mode", "std::string", /*default=*/"\"model\"",
           "model (the cost model) or file (a tuning file)">,
    Option<"file", "file", "std::string", /*default=*/"\"\"",
           "the tuning file of mode=file">,
    Option<"onMissing", "on-missing", "std::string", /*default=*/"\"error\"",
           "a layer the tuning file has no entry for: error, or model (the "
           "cost model's choice, with a remark)">,
    Option<"targetFeatures", "target-features", "std::string",
           /*default=*/"\"\"",
           "LLVM target features of the CPU (e.g. +avx2,+fma); empty: the "
           "host's">,
    Option<"threads", "threads", "int64_t", /*default=*/"0",
           "threads a kernel is split for; 0: the host's hardware threads">,
    Option<"l1Bytes", "l1-bytes", "int64_t", /*default=*/"49152",
           "L1 data cache of one core, bytes (this machine: 48 KiB)">,
    Option<"l2Bytes", "l2-bytes", "int64_t", /*default=*/"1048576",
           "L2 cache of one core, bytes (this machine: 1 MiB)">,
    Option<"bandwidthGbps", "bandwidth-gbps", "double", /*default=*/"25.0",
           "single-thread read bandwidth from memory, GB/s">,
    Option<"ghz", "ghz", "double", /*default=*/"3.0",
           "clock of the core, GHz">,
    Option<"vectorUnits", "vector-units", "int64_t", /*default=*/"2",
           "vector instructions issued per cycle">,
  ];
}

def R2QHoistParallelAllocationsPass : Pass<"r2q-hoist-parallel-allocations"> {
  let summary = "allocate the private buffers of scf.forall iterations once, "
                "before the loop";
  let description = [{
    Runs on bufferized IR, before deallocation. A statically shaped
    `memref.alloc` directly in the body of a one-dimensional `scf.forall`
    (from 0, step 1, static bound `P`; no results) is a buffer private to
    each iteration: the scratch in which `tiled_decode` decodes its tiles,
    for one. It becomes a `memref.view` of the iteration's slice (at byte
    `iv * S`, `S` the buffer's size rounded up to 64 bytes) of one
    `memref<P*S x i8>` allocated before the loop, so that nothing is
    allocated inside the parallel region that the loop becomes. Buffers with
    uses outside the loop, dynamic shapes or layouts are left alone.

    Before:

    ```mlir
    scf.forall (%p) in (2) {
      %tile = memref.alloc() : memref<16x32x16x8xf32>
      ...
    }
    ```

    After:

    ```mlir
    %all = memref.alloc() {alignment = 64 : i64} : memref<524288xi8>
    scf.forall (%p) in (2) {
      %offset = arith.muli %p, %c262144 : index
      %tile = memref.view %all[%offset][] : memref<524288xi8> to memref<16x32x16x8xf32>
      ...
    }
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
}

def R2QRejectNestedModulesPass
    : Pass<"r2q-reject-nested-modules", "::mlir::ModuleOp"> {
  let summary = "reject builtin.module ops nested in the module being compiled";
  let description = [{
    The first check of `r2q-cpu-pipeline`: the pipeline compiles the
    functions of one module into one LLVM module, and upstream One-Shot
    Bufferize and the LLVM translation do not descend into nested modules,
    so a nested `builtin.module` would come out half lowered. Each nested
    module is reported at its location with a way to compile it on its own,
    and the pass fails.

    ```mlir
    module {
      module @inner {  // error: nested 'builtin.module' @inner: ...
        func.func @f() { return }
      }
    }
    ```
  }];
}

def R2QGPUHostBuffersPass
    : Pass<"r2q-gpu-host-buffers", "::mlir::ModuleOp"> {
  let summary = "put the buffers of host code where GPU kernels can read them";
  let description = [{
    A step of `r2q-gpu-pipeline`, after bufferization: the functions it
    compiles pass their buffers to GPU kernels, so every buffer they make
    must be one the GPU can read and write, and one their own host code
    (copies, the loops left on the host) can too.

    * `memref.alloc` of a buffer that only kernels read and write (the host
      only returns or frees it: results of `r2q.matmul`) becomes `gpu.alloc`
      (device memory: the runtime's memory pool, or `cuMemAlloc`), so that a
      kernel's first writes do not
      fault pages in; any other becomes `gpu.alloc host_shared` (CUDA
      managed memory, `cuMemAllocManaged`: host code reads and writes it
      too); `memref.dealloc` becomes `gpu.dealloc` for both. The GPU ops
      this pass makes are synchronous: `r2q-gpu-pipeline` then puts them
      on one stream with the kernel launches (`gpu-async-region`,
      `r2q-gpu-synchronous-managed-allocs`);
    * `memref.get_global` of a constant (weights folded at compile time, in
      host memory) becomes its device copy, made once per loaded module:
      each constant gets a slot (an internal `llvm.mlir.global` holding the
      copy's address, null at first), host code asks the runtime for the
      copy (`r2qCudaDeviceConstant(slot, host address, bytes, managed)`,
      which copies the constant on the slot's first use; managed memory
      where host code reads the constant too), and a global destructor
      (`llvm.mlir.global_dtors`) frees the copies
      (`r2qCudaReleaseDeviceConstant`) when the module is unloaded. A
      mutable global, or a constant the block returns, is still copied
      into a managed buffer on every call (a mutable one copied back at the
      end of the block).

    The functions' own arguments and results are the caller's contract:
    device or managed memory (`docs/gpu.md`). So in a function called from
    outside the module, host code must not touch an argument's data (a
    host load of device memory faults): a dense host `memref.copy` from or
    to one (returning an argument copies it) becomes `gpu.memcpy` (the
    runtime's copy, any memory to any), and any other host access (a load,
    a strided copy) is an error at the op. Code inside `gpu.launch` and
    `gpu.module` is left alone; `memref.alloca` stays on the host stack.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect"];
}

def R2QGPUWorkgroupBuffersPass
    : Pass<"r2q-gpu-workgroup-buffers", "::mlir::ModuleOp"> {
  let summary = "turn workgroup-memory allocas of gpu.launch bodies into workgroup attributions";
  let description = [{
    A step of `r2q-gpu-pipeline`, after bufferization and buffer
    deallocation. Kernels that share a buffer between the threads of a
    block (the tables of `warp_lut_gemv`) allocate it with `memref.alloca`
    in `#gpu.address_space<workgroup>` just before their `gpu.launch`: a
    workgroup attribution would be a memref block argument, to which
    ownership-based buffer deallocation adds an `i1` ownership argument
    that the launch then rejects (and the canonicalizer turns an alloca at
    the top of a launch body into an attribution early). This pass moves
    each such alloca to a workgroup attribution of the one launch that uses
    it (static shared memory, at most 48 KiB per block), and reports one
    used elsewhere.

    ```mlir
    %table = memref.alloca() : memref<8192xf32, #gpu.address_space<workgroup>>
    gpu.launch blocks(...) threads(...) {
      ... %table ...
    }
    // becomes
    gpu.launch blocks(...) threads(...)
        workgroup(%table : memref<8192xf32, #gpu.address_space<workgroup>>) {
      ...
    }
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect"];
}

def R2QBucketRowsPass : Pass<"r2q-bucket-rows"> {
  let summary = "give r2q.matmul ops with a dynamic batch static ones";
  let description = [{
    The GPU kernels are specialized on the batch, and a model exported with
    a dynamic one (Torch-MLIR's `tensor<?x?x4096xf32>`) has none. For every
    `r2q.matmul` whose rows (the product of the input's leading dimensions,
    M) are dynamic and whose K, N and weight are static, this pass pads the
    rows with zeros to the smallest of `buckets` that holds them, computes
    the op on that static batch (a copy of the op, kernel and outliers
    included) and keeps the first M rows of its result; beyond the largest
    bucket the rows run in chunks of the largest (an `scf.for`, the last
    chunk padded). The bucket is chosen at run time by a cascade of `scf.if`
    on M, so each bucket is one compiled kernel, and a batch costs what its
    bucket costs (padding rows are computed and dropped). `r2q-gpu-pipeline`
    runs it first, before folding and kernel selection; ops with a dynamic K
    or weight are left alone (and refused later).

    ```mlir
    %y = r2q.matmul %x, %s, %a group_size 128
        : tensor<?x?x512xf32>, ... -> tensor<?x?x64xf32>
    // becomes, with buckets = 1,16:
    %rows = tensor.collapse_shape %x [[0, 1], [2]] : ... into tensor<?x512xf32>
    %m = tensor.dim %rows, %c0
    %r = scf.if (%m <= 1) {
      %p = tensor.insert_slice %rows into %zeros1[0, 0] [%m, 512] [1, 1]
      %y1 = r2q.matmul %p, %s, %a ... -> tensor<1x64xf32>
      scf.yield (tensor.extract_slice %y1[0, 0] [%m, 64] [1, 1])
    } else {
      scf.if (%m <= 16) { ... tensor<16x64xf32> ... }
      else { scf.for chunks of 16 ... }
    }
    %y = tensor.expand_shape %r [[0, 1], [2]] output_shape [%b, %t, 64]
    ```
  }];
  let options = [
    ListOption<"buckets", "buckets", "int64_t",
               "Static batches the rows are padded to (default 1, 4, 16, "
               "64, 256: table kernels below 16 rows, tensor cores from 16 "
               "on)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect"
  ];
}

def R2QGPUStridedCopiesPass
    : Pass<"r2q-gpu-strided-copies", "::mlir::func::FuncOp"> {
  let summary = "strided copies of host code as GPU kernels";
  let description = [{
    A step of `r2q-gpu-pipeline`, after bufferization and before
    `convert-linalg-to-parallel-loops`. Bufferization writes a
    `tensor.insert_slice`, `tensor.extract_slice` or a copy of a loop's
    buffer as a `memref.copy`, which host code runs. Where either side is
    strided (a subview of a larger buffer), the host would walk the
    elements of GPU memory one by one: a buffer the kernels use would have
    to be managed memory, its pages moving to the host and back, and a
    function argument (the caller's device memory) could not be copied at
    all (`r2q-gpu-host-buffers` refuses it). This pass makes every such
    copy outside a kernel a `linalg.copy`, which the next steps turn into a
    GPU kernel like any other linalg op:

    ```mlir
    memref.copy %arg0, %view : memref<3x3xf32> to memref<3x3xf32, strided<[8, 1]>>
    // becomes
    linalg.copy ins(%arg0 : memref<3x3xf32>) outs(%view : memref<3x3xf32, strided<[8, 1]>>)
    ```

    Dense copies (identity layouts on both sides) are left to
    `r2q-gpu-host-buffers`, which copies with the runtime where an
    argument of a public function is involved (`gpu.memcpy`); copies
    inside `gpu.launch` bodies are the kernels' own. Rank-0 copies (one
    element, no loop to map) and unranked ones stay as they are: on an
    argument, `r2q-gpu-host-buffers` refuses a rank-0 one with a strided
    side.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def R2QGPUTileParallelLoopsPass
    : Pass<"r2q-gpu-tile-parallel-loops", "::mlir::func::FuncOp"> {
  let summary = "tile host parallel loops into blocks of threads before GPU mapping";
  let description = [{
    A step of `r2q-gpu-pipeline`, between `convert-linalg-to-parallel-loops`
    and `gpu-map-parallel-loops`, for what is left of linalg (fills,
    element-wise ops, the outliers' sparse product, a model's other
    layers). `gpu-map-parallel-loops` maps the dimensions of an outermost
    `scf.parallel` to the grid (x, y, z in order) and those of a nested one
    to the threads of a block. Untiled, every iteration was a block of one
    thread, and a dimension of more than 65535 iterations (an element-wise
    op on a vocabulary of 128256) a grid larger than CUDA's 65535 blocks in
    y and z, whose launch fails. This pass collapses every outermost
    `scf.parallel` of host code to two dimensions (all but the innermost
    into one, which maps to x: 2^31 - 1 blocks) and tiles it by 1 in the
    first and by `block-size` (or its static trip count, where smaller) in
    the innermost, then folds the inner loop's bound to a min with a
    constant, from which `convert-parallel-loops-to-gpu` takes the block's
    threads (it folds only these: a general canonicalization would fold a
    one-tile dimension away and merge the loops back):

    ```mlir
    scf.parallel (%i, %j) = (%c0, %c0) to (%c3, %c70000) step (%c1, %c1) {...}
    // becomes
    scf.parallel (%i, %jj) = (%c0, %c0) to (%c3, %c70000) step (%c1, %c256) {
      %n = affine.min affine_map<(d0) -> (-d0 + 70000, 256)>(%jj)
      scf.parallel (%k, %j) = (%c0, %c0) to (%c1, %n) step (%c1, %c1) {...}
    }
    ```

    which maps to a grid of 3 x 274 blocks of 256 threads (the last block's
    threads past the end do nothing). Loops inside `gpu.launch` bodies (the
    r2q kernels), nested loops and loops with reductions are left alone.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "iterations of the innermost dimension per block of threads">,
  ];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect"];
}

def R2QGPUSinkConstantsPass
    : Pass<"r2q-gpu-sink-constants", "::mlir::ModuleOp"> {
  let summary = "move the constants a gpu.launch body uses into it";
  let description = [{
    A step of `r2q-gpu-pipeline`, just before kernel outlining. The
    canonicalizer hoists constants out of `gpu.launch` bodies (they are not
    isolated from above), and upstream's outlining sinks back only some
    (index computations): the rest, such as the vector constants of the
    `warp_gemv` kernels' sign shifts, would become kernel parameters, read
    from parameter memory on every use. This pass clones every constant a
    launch body uses into it (with `sinkOperationsIntoLaunchOp`).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def R2QGPUAlignWorkgroupBuffersPass
    : Pass<"r2q-gpu-align-workgroup-buffers", "::mlir::ModuleOp"> {
  let summary = "declare kernels' shared-memory buffers 16-byte aligned";
  let description = [{
    A step of `r2q-gpu-pipeline`, after kernel outlining. A workgroup
    attribution of a `gpu.func` becomes an LLVM global in shared memory
    whose declared alignment is its element type's (`.shared .align 1` for
    a byte buffer), while LLVM's optimizer assumes 16 bytes for a global
    that large and folds a kernel's own rounding of the address away. The
    kernels read their tables and tiles with 16-byte accesses (`ldmatrix`,
    `st.shared.v4`), so this pass gives every workgroup attribution
    `llvm.align = 16` (unless it has one), which the PTX then declares
    (`.shared .align 16`), rather than relying on where `ptxas` happens to
    place the buffer.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def R2QGPUExternDynamicSharedMemoryPass
    : Pass<"r2q-gpu-extern-dynamic-shared-memory", "::mlir::ModuleOp"> {
  let summary = "read kernels' dynamic shared memory through an external shared array";
  let description = [{
    A step of `r2q-gpu-pipeline`, after kernel outlining. CUDA places a
    launch's dynamic shared memory (`dynamic_shared_memory_size`) at an
    external shared array of unknown size, `.extern .shared .align 16 .b8
    name[];`. MLIR 22 lowers `gpu.dynamic_shared_memory` to an internal
    global of zero bytes instead, which LLVM's NVPTX backend declares as a
    one-byte static variable (`.shared .align 16 .b8 name;`): the kernel
    then reads past a static variable of its own, which works only while
    no other static buffer follows it. This pass gives each `gpu.module`
    that uses dynamic shared memory one public, uninitialized
    `memref.global` of zero bytes in workgroup memory (16-byte aligned:
    the kernels' widest accesses), which lowers to that external array,
    and replaces each `gpu.dynamic_shared_memory` by the global viewed with
    the launch's size (`%dynamic_smem_size`).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::arith::ArithDialect"];
}

def R2QGPUOutlineKernelsPass
    : Pass<"r2q-gpu-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "outline gpu.launch bodies into kernels, keeping the kernel attributes r2q's lowerings asked for";
  let description = [{
    The kernel outlining step of `r2q-gpu-pipeline`: upstream's
    `gpu-kernel-outlining`, which drops a `gpu.launch` op's attributes,
    plus the attributes a lowering put on a launch for its kernel: the
    dictionary `r2q.kernel_attributes` of a `gpu.launch` becomes attributes
    of the outlined `gpu.func`, which the NVVM lowering keeps. Each launch
    becomes a `gpu.launch_func` in place, so the launches are matched by
    their order in the module. `byte_lut_gemv` asks for `nvvm.minctasm =
    2` (PTX `.minnctapersm 2`): `ptxas` then keeps its kernel of 256
    threads at 128 registers, so two blocks share an SM (one can issue
    while the other waits at its barrier); on its own `ptxas` gave it 162
    to 166, one block per SM. `wgmma_gemm` asks for 4, or as many as
    shared memory holds if fewer (3 at 64 x 192, where on its own `ptxas`
    gave it 198 registers, 2 blocks per SM). Asked of every kernel, the
    same hint made `ptxas` use more registers in kernels that needed fewer
    (`warp_lut_gemv` 48 to 80, `mma_gemm` at 128 rows 128 to 166), so only
    the kernels that need it ask.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::DLTIDialect",
                           "::mlir::cf::ControlFlowDialect"];
}

def R2QGPUCheckAlignmentPass
    : Pass<"r2q-gpu-check-alignment", "::mlir::ModuleOp"> {
  let summary = "check on the host that the buffers kernels read with wide accesses are aligned for them";
  let description = [{
    A step of `r2q-gpu-pipeline`, after kernel outlining. The kernels read
    sign bytes, scales and activations 8 or 16 bytes at a time, with loads
    that claim that alignment (`vector.load ... {alignment = 16}`): they are
    aligned relative to the buffer's first element, so the buffer itself
    must start at such a multiple. Buffers that r2q's host code allocates
    are (the runtime hands out 256-byte aligned memory), but a function's
    arguments are the caller's: a runtime weight or an activation at an odd
    offset of a larger allocation would make the kernel fault with a
    misaligned address, which loses the GPU's context for the whole
    process.

    So before each `gpu.launch_func`, for each memref operand whose kernel
    argument is accessed (directly or through views) with an alignment
    larger than its element's, host code calls the runtime's
    `r2qCudaCheckAlignment(address, alignment, description)`, where the
    address is that of the buffer's first element and the description names
    it (`argument 1 of @main (memref<2x64x8xi8>, operand 2 of kernel
    @main_kernel::@main_kernel)`). A misaligned buffer is then an error
    with that name (inside an error scope the launch and the rest of the
    call's GPU work are skipped; outside one the process aborts with the
    message, as for any CUDA error), never a fault. The check costs a few
    host instructions per buffer and launch. (`memref.assume_alignment` in
    a kernel is a claim too; claims on the kernel's own memory, workgroup
    or private buffers, its allocations and its module's globals, are not
    checked.) A claim on a buffer in global memory whose start the host
    cannot name (one chosen at run time, such as a select of two
    arguments, or a view through a `memref.reinterpret_cast` to another
    offset than its source's, which replaces the offset the host passes)
    is an error at the claim.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect"];
}

def R2QGPUSynchronousManagedAllocsPass
    : Pass<"r2q-gpu-synchronous-managed-allocs", "::mlir::ModuleOp"> {
  let summary = "make managed-memory allocations synchronous again after gpu-async-region";
  let description = [{
    A step of `r2q-gpu-pipeline`, after upstream's `gpu-async-region`, which
    puts the GPU ops of each block of host code (allocations, copies,
    launches, frees) on one stream, chained by async tokens, with one
    `gpu.wait` before the next host op that has side effects (such as a
    host load of managed memory) and at the end of the block, instead of a
    stream created, synchronized and destroyed per op. That pass also makes
    `gpu.alloc host_shared` (CUDA managed memory) asynchronous, a form
    that `gpu-to-llvm` does not lower. This pass turns each back into the
    synchronous form (`cuMemAllocManaged` does not wait for streams
    anyway) and hands its dependency on to the ops that waited for it:

    ```mlir
    %m, %t1 = gpu.alloc async [%t0] host_shared () : memref<16xf32>
    %t2 = gpu.launch_func async [%t1] ...
    // becomes
    %m = gpu.alloc host_shared () : memref<16xf32>
    %t2 = gpu.launch_func async [%t0] ...
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def R2QReadOnlyArgumentsPass
    : Pass<"r2q-read-only-arguments", "::mlir::ModuleOp"> {
  let summary = "keep the callers' tensors as they are through bufferization";
  let description = [{
    A step of `r2q-cpu-pipeline` and `r2q-gpu-pipeline`, just before
    One-Shot Bufferize. A tensor argument of a function is a value: the
    caller's array must hold the same numbers after the call. One-Shot
    Bufferize takes function arguments to be writable buffers, so a
    function that inserts into an argument (`tensor.insert_slice ... into
    %arg`) or writes an element-wise result into it (`outs(%arg)`) wrote
    into the caller's array. This pass marks the tensor arguments of every
    public function with a body `bufferization.writable = false`, and the
    bufferization copies such an argument before it writes to it:

    ```mlir
    func.func @f(%x: tensor<3x3xf32>, %big: tensor<3x8xf32>) -> tensor<3x8xf32>
    // becomes
    func.func @f(%x: tensor<3x3xf32> {bufferization.writable = false},
                 %big: tensor<3x8xf32> {bufferization.writable = false}) -> tensor<3x8xf32>
    ```

    Private functions (those the module calls, such as the shared layer
    functions of `r2q-outline-kernels`) keep writable arguments: the
    bufferization copies at their call sites where needed. So do arguments
    a function writes on purpose: those already marked
    `bufferization.writable` (`= true` keeps an in-place update of a large
    argument, such as a KV cache, without a copy) and the destinations of
    `bufferization.materialize_in_destination`. An argument that is the
    initial value of an `scf.for`'s loop-carried tensor is copied before
    the loop (upstream's loop bufferization counts it as written).
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect"];
}

def R2QLowerMLProgramGlobalsPass
    : Pass<"r2q-lower-ml-program-globals", "::mlir::ModuleOp"> {
  let summary = "turn ml_program globals into memref globals for bufferization";
  let description = [{
    Torch-MLIR and other exporters may keep weights and state in
    `ml_program.global`s. `r2q-quantize-linear` quantizes the layers whose
    weights are immutable globals, but layers it leaves in float (filtered
    out, too small) and mutable state still read them, and upstream MLIR 22
    has no bufferization for `ml_program`. This pass, part of
    `r2q-cpu-pipeline` before One-Shot Bufferize, lowers them:

    * `ml_program.global` with an initial value becomes a `memref.global` of
      the same name, visibility and value (`constant` when immutable);
    * `ml_program.global_load_const` becomes `memref.get_global` +
      `bufferization.to_tensor restrict` (read-only: bufferization copies
      before any write);
    * `ml_program.global_load` copies the global into a fresh buffer, so the
      tensor keeps the value it had when loaded;
    * `ml_program.global_store` copies the stored tensor into the global.

    A global without an initial value, or of a type other than a static
    tensor, is reported at the global and the pass fails.

    Before:

    ```mlir
    ml_program.global private @w(dense<0.5> : tensor<4x16xf32>) : tensor<4x16xf32>
    %w = ml_program.global_load_const @w : tensor<4x16xf32>
    ```

    After:

    ```mlir
    memref.global "private" constant @w : memref<4x16xf32> = dense<0.5>
    %m = memref.get_global @w : memref<4x16xf32>
    %w = bufferization.to_tensor %m restrict : memref<4x16xf32> to tensor<4x16xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

def R2QReportFailedAssertsPass
    : Pass<"r2q-report-failed-asserts", "::mlir::ModuleOp"> {
  let summary = "lower host code's cf.assert to branches that write the "
                "failed message to standard error and abort";
  let description = [{
    A step of `r2q-cpu-pipeline` and of `r2q-gpu-pipeline`'s host code
    (with `check-bounds=true`), after structured control flow has become
    branches. Upstream's lowering of `cf.assert` has two problems for the
    runtime checks of `check-bounds=true`:

    - it prints the message with `puts`, to standard output, which is
      buffered when it is not a terminal and lost when the process aborts,
      so a failed check under a test harness or a pipe died without saying
      which;
    - it branches at every assert. In a loop each branch is one more exit,
      and LLVM's loop unrolling slows down with the exits: a GPU kernel's
      host form took LLVM 7 minutes to compile with a branch per check,
      4 with one per block (this pass), 1.5 without checks.

    This pass lowers the asserts of each block together: where the last of
    them stood, one conditional branch goes on if all held, else to a block
    (one per region) that writes the message of the first that failed, with
    a newline, to file descriptor 2 (`write`, unbuffered) and calls `abort`.
    Between the asserts the block runs without branches, so a failed check
    is reported at the end of the straight-line code that holds it, before
    the next branch.

    ```mlir
    cf.assert %a, "first"
    %v = memref.load ...
    cf.assert %b, "second"
    // becomes
    %v = memref.load ...
    %m1 = llvm.mlir.addressof @r2q_assert_message_1 : !llvm.ptr
    %m2 = llvm.mlir.addressof @r2q_assert_message_2 : !llvm.ptr
    %m = llvm.select %a, %m2, %m1 : i1, !llvm.ptr
    %ok = arith.andi %a, %b : i1
    cf.cond_br %ok, ^rest, ^failed(%m : !llvm.ptr)
    ```

    With `grouped=false` each assert becomes its own branch where it
    stands, so a failed check stops the code before the op it guards:
    `r2q-gpu-pipeline` lowers its host code's checks so (few, outside
    loops), since the next op of a block may be a kernel launch that reads
    the view a check guards.

    Equal messages share one constant global. The asserts of GPU kernels
    (inside a `gpu.module`) are left alone: `convert-gpu-to-nvvm` lowers
    them to CUDA's device assert. A module that declares `write`, `strlen`
    or `abort` with another type than libc's is an error at that
    declaration.
  }];
  let options = [
    Option<"grouped", "grouped", "bool", "true",
           "one branch per block at its last assert (true), or one per "
           "assert where it stands (false)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::cf::ControlFlowDialect",
  ];
}

#endif // R2Q_DIALECT_R2Q_TRANSFORMS_PASSES_TD
