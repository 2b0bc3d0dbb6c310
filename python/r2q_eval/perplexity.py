"""Perplexity of a model over token windows.

Each window of T tokens is one independent sequence (no BOS is added: the
GGUF says add_bos_token = false); positions 0 .. T-2 predict tokens 1 .. T-1,
so a window contributes T-1 predictions. Perplexity is
exp(total negative log-likelihood / total predictions) over all windows.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time

import numpy as np


@dataclasses.dataclass
class PerplexityResult:
    perplexity: float
    mean_nll: float
    predictions: int
    windows: int
    seconds: float


def window_nll(model, window: np.ndarray) -> float:
    """Sum of -log p(token[t+1] | tokens[..t]) over one window (float64)."""
    hidden = model.forward(window[None, :-1])[0]
    logits = model.logits(hidden)
    peak = logits.max(axis=-1, keepdims=True)
    log_norm = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=-1, dtype=np.float64))
    targets = window[1:]
    chosen = logits[np.arange(len(targets)), targets]
    return float(np.sum(log_norm - chosen, dtype=np.float64))


def evaluate(model, windows: np.ndarray, label: str = "", progress=sys.stderr) -> PerplexityResult:
    """Perplexity over `windows` (count x T), with one progress line per window."""
    start = time.time()
    total, predictions = 0.0, 0
    for index, window in enumerate(windows):
        total += window_nll(model, window)
        predictions += len(window) - 1
        if progress is not None:
            elapsed = time.time() - start
            print(
                f"[{label}] window {index + 1}/{len(windows)}: running perplexity "
                f"{math.exp(total / predictions):.3f} ({elapsed / (index + 1):.2f} s/window)",
                file=progress,
                flush=True,
            )
    mean = total / predictions
    return PerplexityResult(math.exp(mean), mean, predictions, len(windows), time.time() - start)
