"""llama.cpp's own quantizations of the same GGUF, scored on the same windows.

Needs ``llama-cpp-python`` (no wheel on PyPI: ``pip install llama-cpp-python``
compiles llama.cpp; not part of scripts/install-eval-deps.sh). The model file
is requantized with ``llama_model_quantize`` (from Q4_1: ``allow_requantize``),
and every window is evaluated by llama.cpp itself with the token ids of
``r2q_eval.tokenizer`` (the GGUF's own vocabulary), so the perplexity is
comparable with ``python -m r2q_eval ppl`` row for row. Bits per weight are
the stored bytes of the linear layers' tensors (``blk.*.attn_*``,
``blk.*.ffn_*``) of the output file over their weights: llama.cpp falls back
to other types where a tensor's K (576 here) is not a multiple of 256.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time

import numpy as np

# llama_ftype values (llama.h).
FTYPES = {"q2_k": 10, "q3_k_m": 12, "q4_k_m": 15, "q4_0": 2, "q8_0": 7}
LINEAR = re.compile(r"blk\.\d+\.(attn_(q|k|v|output)|ffn_(gate|up|down))\.weight")


def quantize_file(source: str, target: str, ftype: str) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[ftype]
    params.allow_requantize = True
    params.nthread = 1
    status = llama_cpp.llama_model_quantize(source.encode(), target.encode(), params)
    if status != 0:
        raise RuntimeError(f"llama_model_quantize({ftype}) failed with {status}")


def linear_bits_per_weight(path: str) -> tuple[float, dict]:
    """Stored bits per weight of the linear layers, and the tensor types used."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    bits = weights = 0
    types = {}
    for tensor in reader.tensors:
        if LINEAR.fullmatch(tensor.name):
            bits += 8 * int(tensor.n_bytes)
            weights += int(np.prod(tensor.shape))
            name = tensor.tensor_type.name
            types[name] = types.get(name, 0) + 1
    return bits / weights, types


def perplexity(path: str, windows: np.ndarray, label: str) -> float:
    import llama_cpp

    model = llama_cpp.Llama(model_path=path, n_ctx=windows.shape[1], logits_all=True,
                            n_threads=1, n_batch=windows.shape[1], verbose=False)
    total, count, start = 0.0, 0, time.time()
    for index, window in enumerate(windows, 1):
        model.reset()
        model.eval([int(t) for t in window[:-1]])
        logits = np.asarray(model.scores[: len(window) - 1], dtype=np.float64)
        peak = logits.max(axis=-1, keepdims=True)
        log_norm = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=-1))
        targets = window[1:]
        total += float(np.sum(log_norm - logits[np.arange(len(targets)), targets]))
        count += len(targets)
        print(f"[{label}] window {index}/{len(windows)}: running perplexity "
              f"{math.exp(total / count):.3f} ({(time.time() - start) / index:.2f} s/window)",
              file=sys.stderr, flush=True)
    return math.exp(total / count)
