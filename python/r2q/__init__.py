"""r2q: 2-bit R2Q weights and the MLIR compiler that runs them, from Python.

A thin layer over r2q's C++ libraries (the extension r2q._r2q); docs/python.md
is the reference. Everything here is numpy in, numpy out:

    import numpy as np, r2q
    w = np.random.default_rng(0).standard_normal((256, 512), dtype=np.float32)
    q = r2q.quantize(w, group_size=128, planes=2)     # greedy R2Q, f16 scales
    w_hat = r2q.dequantize(q)                          # float32, 256 x 512
    ir = r2q.run_pipeline(text, "r2q-quantize-linear{group-size=64}")
    f = r2q.compile(text, entry="main")                # callable on arrays

Numerics (lib/Quant):
  quantize(w, group_size=128, planes=2, method="greedy", scale_type="f16", *,
           outliers=0.0, outlier_threshold=0.0, outlier_type="f16",
           gram=None, diagonal=None, dampening=0.01, threads=0)
      -> QuantizedWeight
      w: 2-D N x K array of float32, float16 or ml_dtypes.bfloat16, read in
      place when C-contiguous (other layouts are copied). method "greedy" (the
      paper) or "refined"; scale_type "f16", "bf16" or "f32". Dense + sparse
      R2Q: outliers keeps that fraction of the weights (largest magnitudes)
      and outlier_threshold every weight above that many RMS of its group,
      exactly, as f16 or f32 corrections (q.outlier_offsets/columns/values,
      CSR). Calibration: gram (X^T X of the layer's input, K x K) drives
      GPTQ-style error feedback on the R2Q lattice, diagonal (its diagonal)
      importance-weighted scales. The core's errors (a NaN or infinite
      weight with its row and column, K = 0, planes outside 1..4, a scale
      that overflows the scale type, bad statistics) raise ValueError with
      the core's message; other dtypes raise TypeError.
  dequantize(q, threads=0) -> float32 N x K array
  quantize_rtn(w, group_size=128, bits=2, kind="minmax", threads=0)
      -> float32 N x K array: the round-to-nearest baselines ("minmax":
      asymmetric with zero points, "absmax": symmetric), dequantized.
  QuantizedWeight: .signs (uint8 planes x N x ceil(K/8)), .scales (float32
      planes x N x K/group_size), .shape, .group_size, .planes, .scale_type,
      .method, .bits_per_weight, .storage_bytes (docs/format.md).

Compiler (the passes of r2q-opt, the JIT of lib/Runtime):
  run_pipeline(ir, pipeline, return_diagnostics=False, source_name="<input>")
      -> IR text, or (IR text, diagnostics) with return_diagnostics. pipeline
      is a textual pass pipeline, "r2q-quantize-linear{group-size=64}" or
      "builtin.module(r2q-quantize-linear{group-size=64})".
  compile(ir, entry="main", pipeline="r2q-quantize-linear,r2q-cpu-pipeline",
          source_name="<input>") -> CompiledFunction
      for functions whose arguments and results are ranked f32 tensors;
      call it with numpy float32 arrays. With "r2q-gpu-pipeline" in the
      pipeline the kernels run on an NVIDIA GPU (.gpu is true; a call copies
      numpy arrays to the device and the results back, and reads arguments
      already in GPU memory where they are, returning DeviceArray results)
      and a call raises RuntimeError where no GPU can be used.
  DeviceArray: a float32 result left in GPU memory; .shape, .dtype,
      .numpy() (a host copy), __cuda_array_interface__ (torch.as_tensor(a,
      device="cuda") takes it without a copy).
  gpu_unavailable_reason() -> None, or why GPU code cannot run here.
  gpu_chip() -> "sm_86" (GPU 0's, for r2q-gpu-pipeline's chip), or None.
      A GPU function compiled for a chip that GPU 0 cannot run raises
      RuntimeError when called.
  trim_gpu_memory(): gives back to the GPUs the device memory that r2q's
      pools keep for the next calls (torch.cuda.empty_cache()'s
      counterpart).
  CompileError: raised when the IR does not parse or verify or a pass fails;
      .diagnostics is the list of (severity, location, message), the
      location as "source_name:line:column".
A pipeline that does not parse raises ValueError.

PyTorch (needs torch; imported on first use, so `import r2q` works without):
  r2q.torch.R2QLinear, quantize_model, freeze, compile: quantization-aware
  training with R2Q codes and compilation of nn.Modules (python/r2q/torch.py).
"""

import importlib

from ._r2q import (
    CompileError,
    CompiledFunction,
    DeviceArray,
    QuantizedWeight,
    compile,
    dequantize,
    gpu_chip,
    gpu_unavailable_reason,
    quantize,
    quantize_rtn,
    run_pipeline,
    trim_gpu_memory,
)

__all__ = [
    "CompileError",
    "CompiledFunction",
    "DeviceArray",
    "QuantizedWeight",
    "compile",
    "dequantize",
    "gpu_chip",
    "gpu_unavailable_reason",
    "quantize",
    "quantize_rtn",
    "run_pipeline",
    "trim_gpu_memory",
]


def __getattr__(name):
    # r2q.torch is imported on first use: it needs torch, the rest does not.
    if name == "torch":
        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'r2q' has no attribute {name!r}")
