# Round-to-nearest baselines on random data: the number of levels per group,
# the half-step error bound, the shorter last group when G does not divide K,
# and the honest bit count.
# RUN: %eval_python %s | FileCheck %s
# CHECK: rtn: 36 shapes x schemes x bits passed
# CHECK-NEXT: rtn: last group passed
# CHECK-NEXT: rtn: bits passed

import numpy as np

from r2q_eval import rtn

rng = np.random.default_rng(20251129)
SHAPES = [(5, 576, 128), (3, 100, 32), (4, 7, 128), (6, 130, 64), (2, 257, 256), (9, 64, 16)]


def random_weights(n, k):
    """Gaussian rows with different spreads and a few large weights."""
    w = rng.standard_normal((n, k)) * rng.uniform(0.01, 2.0, size=(n, 1))
    spikes = rng.random((n, k)) < 0.01
    w[spikes] *= 20
    return w.astype(np.float32)


def check_group(block, bits, scheme):
    out = rtn.dequantize_block(block, bits, scheme)
    if scheme == "minmax":
        codes, d, _ = rtn.quantize_minmax(block, bits)
        levels = 1 << bits
        # The extremes of a row land on the lowest and highest level, unless
        # the spread is within float16 rounding of the offset (a group of one).
        spread = block.max(axis=1) - block.min(axis=1)
        wide = spread > 2**-6 * np.abs(block).max(axis=1)
        assert np.all(codes.min(axis=1)[wide] == 0), "min not on level 0"
        assert np.all(codes.max(axis=1)[wide] == levels - 1), "max not on the top level"
    else:
        codes, d = rtn.quantize_absmax(block, bits)
        levels = (1 << bits) - 1
        assert np.all(np.abs(codes).max(axis=1) == levels // 2), "absmax not on the top level"
    for row in out:
        assert len(np.unique(row)) <= levels, f"{len(np.unique(row))} levels > {levels}"
    # Half a step, plus float32 rounding of m + d*q.
    bound = d / 2 * (1 + 1e-5) + 1e-6 * np.abs(block).max(axis=1, keepdims=True)
    assert np.all(np.abs(out - block) <= bound), f"error {np.abs(out - block).max()} above d/2"
    return out


count = 0
for n, k, g in SHAPES:
    w = random_weights(n, k)
    for scheme in rtn.SCHEMES:
        for bits in (2, 3, 4):
            w_hat = rtn.rtn(w, bits, g, scheme)
            bounds = rtn.group_bounds(k, g)
            assert bounds[0][0] == 0 and bounds[-1][1] == k
            assert all(b - a == g for a, b in bounds[:-1]) and 0 < bounds[-1][1] - bounds[-1][0] <= g
            for start, end in bounds:
                expected = check_group(w[:, start:end], bits, scheme)
                assert np.array_equal(w_hat[:, start:end], expected), "groups are not independent"
            count += 1
print(f"rtn: {count} shapes x schemes x bits passed")

# K = 576, G = 128: four groups of 128 and one of 64, whose scale comes from its
# own weights only (here 1000x smaller than the rest).
assert rtn.group_bounds(576, 128) == [(0, 128), (128, 256), (256, 384), (384, 512), (512, 576)]
w = random_weights(8, 576)
w[:, 512:] *= 1e-3
for scheme in rtn.SCHEMES:
    tail_error = np.abs(rtn.rtn(w, 4, 128, scheme)[:, 512:] - w[:, 512:]).max()
    assert tail_error <= np.abs(w[:, 512:]).max() / 4, f"{scheme}: last group uses a foreign scale"
print("rtn: last group passed")

# Codes plus f16 scale (and f16 offset for minmax) per group, ragged groups counted.
assert rtn.storage_bits(10, 576, 2, 128, "minmax") == 10 * 576 * 2 + 10 * 5 * 32
assert rtn.storage_bits(10, 576, 3, 128, "absmax") == 10 * 576 * 3 + 10 * 5 * 16
quantizer = rtn.RtnQuantizer(2, 128, "minmax")
quantizer("a", random_weights(4, 576))
quantizer("b", random_weights(2, 256))
expected_bpw = (4 * 576 * 2 + 4 * 5 * 32 + 2 * 256 * 2 + 2 * 2 * 32) / (4 * 576 + 2 * 256)
assert abs(quantizer.bits_per_weight() - expected_bpw) < 1e-12
for bits in (0, 9):
    try:
        rtn.rtn(w, bits, 128)
        raise AssertionError(f"bits={bits} accepted")
    except ValueError:
        pass
print("rtn: bits passed")
