"""Round-to-nearest baselines, per group of G weights along K, in numpy.

Each row of W (N x K) is cut into groups of G consecutive weights; when G does
not divide K the last group is shorter (K = 576, G = 128: four groups of 128
and one of 64). Scales and offsets are stored as float16 and the weights are
quantized against the stored (rounded) values, so what is counted is what is
used.

- ``minmax`` (asymmetric, like llama.cpp's Q4_1): ``w ~ m + d * q`` with
  ``q`` in ``0 .. 2^b - 1``, ``m = min``, ``d = (max - min) / (2^b - 1)``;
  per group one f16 ``d`` and one f16 ``m``: ``b + 32/G`` bits per weight.
- ``absmax`` (symmetric): ``w ~ d * q`` with ``q`` in ``-(2^(b-1) - 1) ..
  2^(b-1) - 1`` (2^b - 1 levels, so 0 is exact and the grid is symmetric),
  ``d = max|w| / (2^(b-1) - 1)``; one f16 ``d`` per group: ``b + 16/G``
  bits per weight. At 2 bits that is ternary.

The error of every weight is at most half a step, ``d/2`` (``d`` is rounded
up to the next float16, so the grid always covers the group).
"""

from __future__ import annotations

import numpy as np

SCHEMES = ("minmax", "absmax")
SCALE_BITS = 16


def group_bounds(k: int, group: int) -> list[tuple[int, int]]:
    """[start, end) of each group along K; the last one may be shorter."""
    if group <= 0:
        raise ValueError(f"group size must be positive, got {group}")
    return [(start, min(start + group, k)) for start in range(0, k, group)]


def f16_at_least(x: np.ndarray) -> np.ndarray:
    """float16 values not below x (x >= 0), returned as float32."""
    rounded = x.astype(np.float16)
    low = rounded.astype(np.float32) < x
    rounded[low] = np.nextafter(rounded[low], np.float16(np.inf))
    return rounded.astype(np.float32)


def quantize_minmax(block: np.ndarray, bits: int):
    """block: (N, g). Returns codes (uint8), d and m (float32 from f16)."""
    top = (1 << bits) - 1
    low = block.min(axis=1, keepdims=True)
    m = low.astype(np.float16).astype(np.float32)
    span = np.maximum(block.max(axis=1, keepdims=True) - m, 0.0)
    d = f16_at_least(span / top)
    safe = np.where(d > 0, d, 1.0)
    codes = np.clip(np.rint((block - m) / safe), 0, top).astype(np.uint8)
    return codes, d, m


def quantize_absmax(block: np.ndarray, bits: int):
    """block: (N, g). Returns signed codes (int8) and d (float32 from f16)."""
    top = (1 << (bits - 1)) - 1
    d = f16_at_least(np.abs(block).max(axis=1, keepdims=True) / top)
    safe = np.where(d > 0, d, 1.0)
    codes = np.clip(np.rint(block / safe), -top, top).astype(np.int8)
    return codes, d


def dequantize_block(block: np.ndarray, bits: int, scheme: str) -> np.ndarray:
    if scheme == "minmax":
        codes, d, m = quantize_minmax(block, bits)
        return m + d * codes.astype(np.float32)
    codes, d = quantize_absmax(block, bits)
    return d * codes.astype(np.float32)


def check_args(bits: int, scheme: str):
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme '{scheme}' (expected one of {SCHEMES})")
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be in 2..8, got {bits}")


def rtn(w: np.ndarray, bits: int, group: int, scheme: str = "minmax") -> np.ndarray:
    """Round-to-nearest W_hat (N x K float32) of W (N x K)."""
    check_args(bits, scheme)
    w = np.asarray(w, dtype=np.float32)
    out = np.empty_like(w)
    for start, end in group_bounds(w.shape[1], group):
        out[:, start:end] = dequantize_block(w[:, start:end], bits, scheme)
    return out


def storage_bits(n: int, k: int, bits: int, group: int, scheme: str) -> int:
    """Bits to store an N x K matrix: codes plus f16 scales (and offsets)."""
    check_args(bits, scheme)
    groups = n * len(group_bounds(k, group))
    per_group = SCALE_BITS * (2 if scheme == "minmax" else 1)
    return n * k * bits + groups * per_group


class RtnQuantizer:
    """quantize(name, W) -> W_hat, recording bits and relative error per layer."""

    def __init__(self, bits: int, group: int, scheme: str = "minmax"):
        check_args(bits, scheme)
        group_bounds(1, group)  # rejects a group size below 1
        self.bits, self.group, self.scheme = bits, group, scheme
        self.layers = {}  # name -> (weights, storage bits, relative error)

    @property
    def label(self) -> str:
        return f"rtn-{self.scheme} {self.bits}-bit G={self.group}"

    def __call__(self, name: str, w: np.ndarray) -> np.ndarray:
        w_hat = rtn(w, self.bits, self.group, self.scheme)
        error = float(np.linalg.norm(w - w_hat) / max(np.linalg.norm(w), 1e-30))
        bits = storage_bits(*w.shape, self.bits, self.group, self.scheme)
        self.layers[name] = (w.size, bits, error)
        return w_hat

    def bits_per_weight(self) -> float:
        weights = sum(v[0] for v in self.layers.values())
        return sum(v[1] for v in self.layers.values()) / max(weights, 1)
