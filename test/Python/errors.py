# What r2q.quantize rejects, with the numerics core's messages: NaN and
# infinities at their row and column, weights without columns, plane
# counts out of range, scales that overflow the scale type, and arguments the
# binding refuses (dtype, rank, names).
# RUN: %python %s

import numpy as np
import r2q
from r2q_test_support import expect_error, fresh_rng

rng = fresh_rng()


n, k = 13, 72
w = rng.standard_normal((n, k), dtype=np.float32)
for bad, name in [(np.nan, "NaN"), (np.inf, "+Inf"), (-np.inf, "-Inf")]:
    row, col = int(rng.integers(n)), int(rng.integers(k))
    poisoned = w.copy()
    poisoned[row, col] = bad
    expect_error(ValueError, f"weight at row {row}, column {col} is {name}",
                 lambda: r2q.quantize(poisoned, group_size=24))
    expect_error(ValueError, f"weight at row {row}, column {col} is {name}",
                 lambda: r2q.quantize_rtn(poisoned, group_size=24))
# The first NaN in row-major order is the one reported.
poisoned = w.copy()
poisoned[7, 50] = poisoned[7, 3] = poisoned[11, 0] = np.nan
expect_error(ValueError, "weight at row 7, column 3 is NaN",
             lambda: r2q.quantize(poisoned.astype(np.float16), group_size=24))

# A group size that does not divide K gives a shorter last group, not an error.
assert r2q.quantize(w, group_size=16).scales.shape == (2, n, 5)
expect_error(ValueError, "the weight has no columns",
             lambda: r2q.quantize(np.zeros((3, 0), dtype=np.float32), group_size=16))
expect_error(ValueError, "group size must be positive, got 0",
             lambda: r2q.quantize(w, group_size=0))
for planes in (0, 5):
    expect_error(ValueError, f"number of planes must be between 1 and 4, got {planes}",
                 lambda: r2q.quantize(w, group_size=24, planes=planes))
expect_error(ValueError, "round-to-nearest takes 1 to 8 bits, got 9",
             lambda: r2q.quantize_rtn(w, group_size=24, bits=9))
huge = np.full((2, 8), 1e5, dtype=np.float32)
expect_error(ValueError,
             "a scale of row 0, group 0 overflows f16; use a wider scale type or rescale the weights",
             lambda: r2q.quantize(huge, group_size=8))
assert r2q.quantize(huge, group_size=8, scale_type="f32").scales.max() > 65504

expect_error(TypeError,
             "r2q.quantize takes float32, float16 or bfloat16 weights in native byte order, "
             "got float64; convert with w.astype(numpy.float32)",
             lambda: r2q.quantize(w.astype(np.float64), group_size=24))
expect_error(TypeError,
             "r2q.quantize takes float32, float16 or bfloat16 weights in native byte order, "
             "got int32; convert with w.astype(numpy.float32)",
             lambda: r2q.quantize(np.ones((2, 8), np.int32), group_size=8))
expect_error(ValueError, "r2q.quantize takes a 2-D weight (N x K), got shape (72,)",
             lambda: r2q.quantize(w[0], group_size=24))
expect_error(ValueError, "unknown method 'best' (expected greedy or refined)",
             lambda: r2q.quantize(w, group_size=24, method="best"))
expect_error(ValueError, "unknown scale type 'f8' (expected f32, f16 or bf16)",
             lambda: r2q.quantize(w, group_size=24, scale_type="f8"))
expect_error(ValueError, "unknown round-to-nearest kind 'nf4' (expected minmax or absmax)",
             lambda: r2q.quantize_rtn(w, group_size=24, kind="nf4"))
print("ok")
