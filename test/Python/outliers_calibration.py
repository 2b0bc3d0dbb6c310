# Dense + sparse R2Q and calibration from Python: an injected super weight
# survives exactly, the CSR outliers plus the planes are what dequantize
# returns, bits per weight count everything stored, and calibration with X^T X
# lowers the layer's output error on correlated inputs.
# RUN: %python %s

import numpy as np
import r2q
from r2q_test_support import expect_error, fresh_rng

rng = fresh_rng()
n, k, g = 24, 576, 128  # SmolLM2's hidden size: a shorter last group of 64.
w = (0.02 * rng.standard_normal((n, k))).astype(np.float32)
row, col = int(rng.integers(n)), int(rng.integers(k))
w[row, col] = 6.07

q = r2q.quantize(w, group_size=g, outliers=0.002, outlier_type="f32")
w_hat = r2q.dequantize(q)
assert abs(w_hat[row, col] - 6.07) <= 6.07 * 1e-6, w_hat[row, col]
plain = r2q.quantize(w, group_size=g)
assert r2q.dequantize(plain)[row, col] < 3.0

# The planes decode (numpy, from signs and scales) plus the CSR corrections.
planes_only = np.zeros((n, k), dtype=np.float32)
bits = np.unpackbits(q.signs, axis=2, bitorder="little")[:, :, :k]
for p in range(q.planes):
    scales = np.repeat(q.scales[p], g, axis=1)[:, :k]
    planes_only += np.where(bits[p] == 1, -scales, scales)
offsets, columns, values = q.outlier_offsets, q.outlier_columns, q.outlier_values
assert offsets.shape == (n + 1,) and offsets[0] == 0 and offsets[-1] == len(columns)
nnz = int(round(0.002 * n * k))
assert len(columns) == nnz == len(values)
expected = planes_only.copy()
for r in range(n):
    for j in range(offsets[r], offsets[r + 1]):
        expected[r, columns[j]] += values[j]
assert np.array_equal(expected, w_hat)
assert col in columns[offsets[row]:offsets[row + 1]]

# Everything stored counts: i32 offsets, i16 columns (K <= 32768), f32 values.
assert q.storage_bytes == plain.storage_bytes + 4 * (n + 1) + nnz * (2 + 4)
assert q.bits_per_weight == 8 * q.storage_bytes / (n * k)

# Calibration: activations mostly in a few shared directions, features of
# very different scales.
tokens = 512
x = (rng.standard_normal((tokens, 8)) @ rng.standard_normal((8, k))
     + 0.3 * rng.standard_normal((tokens, k)))
x *= np.exp(1.5 * rng.standard_normal(k))
x = x.astype(np.float32)
gram = x.astype(np.float64).T @ x.astype(np.float64)
w = (0.05 * rng.standard_normal((n, k))).astype(np.float32)


def output_error(quantized):
    return float(np.linalg.norm(x @ (w - r2q.dequantize(quantized)).T))


def diagonal_error(quantized):
    """What the diagonal variant minimizes: sum_k (X^T X)_kk (w_k - w_hat_k)^2."""
    return float((np.diag(gram) * (w - r2q.dequantize(quantized)) ** 2).sum())


quantized = {
    "plain": r2q.quantize(w, group_size=g),
    "diagonal": r2q.quantize(w, group_size=g, diagonal=np.diag(gram)),
    "gram": r2q.quantize(w, group_size=g, gram=gram),
}
errors = {name: output_error(q) for name, q in quantized.items()}
print(errors)
# The diagonal variant wins on its own objective; on the output error of
# strongly correlated inputs only the full X^T X is reliably better.
assert diagonal_error(quantized["diagonal"]) < diagonal_error(quantized["plain"])
assert errors["gram"] < 0.8 * min(errors["plain"], errors["diagonal"]), errors

expect_error(ValueError, "expected X^T X of 576 x 576 values, got 100",
             lambda: r2q.quantize(w, gram=np.eye(10)))
expect_error(ValueError, "the outlier fraction must be at least 0 and below 1, got 1.500000",
             lambda: r2q.quantize(w, outliers=1.5))
expect_error(ValueError, "unknown outlier type 'bf16' (expected f16 or f32)",
             lambda: r2q.quantize(w, outliers=0.01, outlier_type="bf16"))
