# r2q.quantize / dequantize against an independent numpy R2Q on fresh random
# data: ragged N, K not a multiple of 8, every scale type, float16 input,
# non-contiguous input, the energy identity, bits per weight and storage.
# RUN: %python %s

import tracemalloc

import numpy as np
import r2q
from r2q_test_support import fresh_rng, greedy_r2q, round_scales

rng = fresh_rng()


def unpack_signs(signs, k):
    return np.unpackbits(signs, axis=-1, bitorder="little")[..., :k].astype(bool)


def check_against_numpy(n, k, group_size, planes, scale_type):
    w = rng.standard_normal((n, k), dtype=np.float32) * rng.uniform(0.01, 3)
    q = r2q.quantize(w, group_size=group_size, planes=planes, scale_type=scale_type)
    scales, negative, w_hat = greedy_r2q(w, group_size, planes, scale_type)
    case = f"N={n} K={k} G={group_size} P={planes} {scale_type}"

    assert q.shape == (n, k) and q.planes == planes, case
    assert q.group_size == group_size and q.scale_type == scale_type, case
    assert q.method == "greedy", case
    assert q.signs.dtype == np.uint8, case
    assert q.signs.shape == (planes, n, (k + 7) // 8), case
    assert q.scales.dtype == np.float32, case
    assert q.scales.shape == (planes, n, k // group_size), case
    assert np.array_equal(q.scales, round_scales(q.scales, scale_type)), case
    # Padding bits past K are zero.
    bits = np.unpackbits(q.signs, axis=-1, bitorder="little")
    assert not bits[..., k:].any(), case
    assert np.array_equal(unpack_signs(q.signs, k), negative), case
    assert np.array_equal(q.scales, scales), case

    dequantized = r2q.dequantize(q)
    assert dequantized.dtype == np.float32 and dequantized.shape == (n, k), case
    assert np.abs(dequantized - w_hat).max() <= 1e-6, case
    # The decoding formula of docs/format.md, from .signs and .scales alone.
    signs = np.where(unpack_signs(q.signs, k), -1.0, 1.0)
    decoded = (signs * np.repeat(q.scales, group_size, axis=2)).sum(axis=0)
    assert np.abs(dequantized - decoded).max() <= 1e-6 * np.abs(w).max(), case

    scale_bits = {"f32": 32, "f16": 16, "bf16": 16}[scale_type]
    assert q.bits_per_weight == 8 * q.storage_bytes / (n * k), case
    assert q.storage_bytes == planes * n * ((k + 7) // 8 + k // group_size * scale_bits // 8), case
    return w, q


for n, k, group_size, planes, scale_type in [
    (1, 8, 8, 1, "f16"),
    (7, 60, 12, 2, "f16"),
    (13, 100, 20, 3, "bf16"),
    (5, 36, 36, 4, "f32"),
    (33, 256, 128, 2, "f16"),
    (3, 9, 3, 2, "f32"),
]:
    check_against_numpy(n, k, group_size, planes, scale_type)

# The energy identity: with exact (f32) scales each residual is orthogonal to
# its sign plane, so ||w - w_hat||^2 = ||w||^2 - G * sum_p a_p^2 per group.
n, k, g = 9, 96, 32
w, q = check_against_numpy(n, k, g, 3, "f32")
error = ((w - r2q.dequantize(q)).reshape(n, k // g, g) ** 2).sum(axis=2, dtype=np.float64)
energy = (w.reshape(n, k // g, g).astype(np.float64) ** 2).sum(axis=2)
identity = energy - g * (q.scales.astype(np.float64) ** 2).sum(axis=0)
assert np.allclose(error, identity, rtol=0, atol=1e-5 * energy.max()), (error, identity)
assert (error < energy).all()

# float16 weights are read as float16 (the same values as their float32
# conversion), bfloat16 ones too where ml_dtypes is installed.
w16 = rng.standard_normal((11, 48), dtype=np.float32).astype(np.float16)
q16, q32 = r2q.quantize(w16, group_size=16), r2q.quantize(w16.astype(np.float32), group_size=16)
assert np.array_equal(q16.signs, q32.signs) and np.array_equal(q16.scales, q32.scales)
try:
    import ml_dtypes
except ImportError:
    print("bfloat16 input: skipped (ml_dtypes is not installed)")
else:
    wbf = rng.standard_normal((11, 48), dtype=np.float32).astype(ml_dtypes.bfloat16)
    qbf = r2q.quantize(wbf, group_size=16)
    qref = r2q.quantize(wbf.astype(np.float32), group_size=16)
    assert np.array_equal(qbf.signs, qref.signs) and np.array_equal(qbf.scales, qref.scales)

# Non-contiguous weights are copied to C order first: same result.
wide = rng.standard_normal((40, 24), dtype=np.float32)
for view in (wide.T, wide[::2, :16], np.asfortranarray(wide)):
    expected = r2q.quantize(np.ascontiguousarray(view), group_size=8)
    got = r2q.quantize(view, group_size=8)
    assert np.array_equal(got.signs, expected.signs)
    assert np.array_equal(got.scales, expected.scales)

# A C-contiguous weight is read in place; other layouts are copied once
# (numpy reports its allocations to tracemalloc).
big = rng.standard_normal((512, 2048), dtype=np.float32)
for array, copied in ((big, False), (big.astype(np.float16), False), (np.asfortranarray(big), True)):
    tracemalloc.start()
    r2q.quantize(array, group_size=128)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (peak >= array.nbytes) == copied, (array.dtype, copied, peak)

# Refined is never worse than greedy, group by group.
w = rng.standard_normal((17, 64), dtype=np.float32)
greedy = r2q.quantize(w, group_size=16, method="greedy")
refined = r2q.quantize(w, group_size=16, method="refined")
assert refined.method == "refined"
greedy_error = ((w - r2q.dequantize(greedy)).reshape(17, 4, 16) ** 2).sum(axis=2)
refined_error = ((w - r2q.dequantize(refined)).reshape(17, 4, 16) ** 2).sum(axis=2)
assert (refined_error <= greedy_error * (1 + 1e-6)).all()
assert refined_error.sum() < greedy_error.sum()

# .signs and .scales are read-only views that keep the weight alive.
signs = r2q.quantize(w, group_size=16).signs
assert not signs.flags.writeable and signs.shape == (2, 17, 8)
assert signs.base is not None
print("ok")
