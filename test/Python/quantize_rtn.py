# r2q.quantize_rtn (the round-to-nearest baselines of lib/Quant) against numpy
# implementations of docs' formulas on fresh random data.
# RUN: %python %s

import numpy as np
import r2q
from r2q_test_support import fresh_rng

rng = fresh_rng()


def minmax(w, group_size, bits):
    """Asymmetric grid with an integer zero point; the range includes 0."""
    groups = w.astype(np.float64).reshape(w.shape[0], -1, group_size)
    low = np.minimum(groups.min(axis=2, keepdims=True), 0)
    high = np.maximum(groups.max(axis=2, keepdims=True), 0)
    levels = 2**bits
    scale = (high - low) / (levels - 1)
    safe = np.where(scale == 0, 1, scale)
    zero = np.rint(-low / safe)
    q = np.clip(np.rint(groups / safe) + zero, 0, levels - 1)
    return np.where(scale == 0, 0, (q - zero) * scale).astype(np.float32).reshape(w.shape)


def absmax(w, group_size, bits):
    """Symmetric odd multiples of absmax / (2^bits - 1)."""
    groups = w.astype(np.float64).reshape(w.shape[0], -1, group_size)
    levels = 2**bits
    step = np.abs(groups).max(axis=2, keepdims=True) / (levels - 1)
    safe = np.where(step == 0, 1, step)
    q = np.clip(np.rint((groups / safe + levels - 1) / 2), 0, levels - 1)
    return np.where(step == 0, 0, (2 * q + 1 - levels) * step).astype(np.float32).reshape(w.shape)


for n, k, group_size, bits in [(7, 48, 16, 2), (13, 90, 30, 3), (1, 8, 8, 1), (5, 64, 64, 4)]:
    w = rng.standard_normal((n, k), dtype=np.float32)
    w[0, :group_size] = 0  # an all-zero group stays zero
    for kind, reference in (("minmax", minmax), ("absmax", absmax)):
        got = r2q.quantize_rtn(w, group_size=group_size, bits=bits, kind=kind)
        assert got.dtype == np.float32 and got.shape == (n, k)
        expected = reference(w, group_size, bits)
        assert np.abs(got - expected).max() <= 1e-6 * np.abs(w).max(), (kind, n, k, bits)
        assert not got[0, :group_size].any()
        levels = [len(np.unique(g)) for g in got.reshape(n, -1, group_size).reshape(-1, group_size)]
        assert max(levels) <= 2**bits
print("ok")
