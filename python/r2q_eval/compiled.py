"""The model's linear layers on r2q's compiled CPU kernels.

Every linear layer becomes one MLIR function (``x: ?xK f32 -> ?xN``, the
float weight a dense constant, the layer named by ``r2q.layer``), compiled by
``r2q.compile`` through ``r2q-quantize-linear{...}`` with the options of an
R2Q method spec and ``r2q-cpu-pipeline{threads=T}``; for ``float`` through
``r2q-cpu-pipeline`` alone (the float matmul compiled by the same pipeline).
``Llama.with_linear_calls`` runs the numpy forward with these functions in
place of its matmuls, so the compiled model and the fake-quant model
(``Llama.with_linear`` with the same quantizer) share every other step.
"""

from __future__ import annotations

import sys
import time
import numpy as np

from . import r2q_methods


def hex_constant(w: np.ndarray) -> str:
    return '"0x' + np.ascontiguousarray(w, dtype="<f4").tobytes().hex().upper() + '"'


def linear_function(name: str, w: np.ndarray, symbol: str = "main", rows: int | None = None) -> str:
    """A function computing x * w^T, as torch-mlir exports nn.Linear; x has
    `rows` rows, or a dynamic number when rows is None."""
    n, k = w.shape
    m = "?" if rows is None else str(rows)
    dynamic = rows is None
    dim = (f"  %c0 = arith.constant 0 : index\n"
           f"  %m = tensor.dim %x, %c0 : tensor<?x{k}xf32>\n") if dynamic else ""
    return f"""
func.func @{symbol}(%x: tensor<{m}x{k}xf32>) -> tensor<{m}x{n}xf32> {{
{dim}  %w = arith.constant dense<{hex_constant(w)}> : tensor<{n}x{k}xf32>
  %e = tensor.empty() : tensor<{k}x{n}xf32>
  %wt = linalg.transpose ins(%w : tensor<{n}x{k}xf32>) outs(%e : tensor<{k}x{n}xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty({"%m" if dynamic else ""}) : tensor<{m}x{n}xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>
  %y = linalg.matmul {{r2q.layer = "{name}"}} ins(%x, %wt : tensor<{m}x{k}xf32>, tensor<{k}x{n}xf32>) outs(%acc : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>
  return %y : tensor<{m}x{n}xf32>
}}"""


def check_supported(quantizer):
    """Raises ValueError unless `quantizer` is None (float) or an R2Q method."""
    if quantizer is not None and not isinstance(quantizer, r2q_methods.R2QQuantizer):
        raise ValueError(f"--compiled runs float and r2q-greedy/r2q-refined methods, "
                         f"not '{quantizer.label}' (r2q-quantize-linear has no round-to-nearest)")


def quantize_options(quantizer: r2q_methods.R2QQuantizer, name: str) -> str:
    """r2q-quantize-linear's options for layer `name` that reproduce
    quantizer(name, W): group size and planes (per layer with schemes=),
    method, outliers and calibration."""
    check_supported(quantizer)
    group, planes = quantizer.schemes[name] if quantizer.schemes else (quantizer.group, quantizer.planes)
    if not group:
        raise ValueError(f"--compiled does not run per-channel groups ('{quantizer.label}')")
    options = [f"group-size={group}", f"planes={planes}", f"method={quantizer.method}",
               "ragged-groups=true", "min-weights=0"]
    if quantizer.outliers:
        options.append(f"outliers={quantizer.outliers!r}")
    if quantizer.calib:
        mode = {"gram": "gram", "diag": "diagonal"}[quantizer.calib]
        options += [f"calibration={quantizer.calibration_dir}", f"calibration-mode={mode}"]
    return "r2q-quantize-linear{" + " ".join(options) + "}"


def pipeline(quantizer, name: str, threads: int) -> str:
    """The pipeline compiling layer `name`: quantized like `quantizer`, or
    float when it is None."""
    cpu = f"r2q-cpu-pipeline{{threads={threads}}}"
    return cpu if quantizer is None else f"{quantize_options(quantizer, name)},{cpu}"


class CompiledLinears:
    """linear(name, x) -> x @ W^T on the compiled function of layer `name`,
    with the compile time of every layer (seconds) and the bytes of the
    constants the compiled code carries."""

    def __init__(self, weights: dict[str, np.ndarray], quantizer, threads: int = 1,
                 progress=sys.stderr):
        import r2q  # Built by the project: PYTHONPATH=build/python.

        self.label = ("float" if quantizer is None else quantizer.label) + " compiled"
        self.functions, self.compile_seconds, self.constant_bytes = {}, {}, 0
        for index, (name, w) in enumerate(weights.items(), 1):
            start = time.time()
            function = r2q.compile(linear_function(name, w), entry="main",
                                   pipeline=pipeline(quantizer, name, threads),
                                   source_name=name)
            # The JIT finishes its work on the first call (about 70 ms a
            # layer): counted here, not in the first forward.
            function(np.zeros((1, w.shape[1]), dtype=np.float32))
            self.compile_seconds[name] = time.time() - start
            self.functions[name] = function
            self.constant_bytes += function.constant_bytes
            if progress is not None:
                print(f"[compile {self.label}] {name} {w.shape[0]}x{w.shape[1]}: "
                      f"{self.compile_seconds[name]:.2f} s ({index}/{len(weights)})",
                      file=progress, flush=True)

    @property
    def total_seconds(self) -> float:
        return sum(self.compile_seconds.values())

    def __call__(self, name: str, x: np.ndarray) -> np.ndarray:
        return self.functions[name](np.ascontiguousarray(x, dtype=np.float32))

    def summary(self, float_bytes: int) -> str:
        seconds = list(self.compile_seconds.values())
        return (f"{self.label}: {len(seconds)} layers compiled in {self.total_seconds:.1f} s "
                f"(per layer mean {np.mean(seconds):.2f} s, max {np.max(seconds):.2f} s); "
                f"constants {self.constant_bytes / 2**20:.1f} MiB "
                f"(float32 weights {float_bytes / 2**20:.1f} MiB)")


def compile_model(model, quantizer, threads: int = 1, progress=sys.stderr):
    """(model whose linear layers run compiled, the CompiledLinears)."""
    linears = CompiledLinears(model.linear, quantizer, threads, progress)
    return model.with_linear_calls(linears), linears

