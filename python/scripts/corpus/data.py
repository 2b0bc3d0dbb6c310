"""Sizes and random data: weight patterns, activations, values rounded to an element type."""

import struct

from .ir import to_bytes


# Group sizes the modules are quantized with (multiples of 8, 8..256).
GROUP_SIZES = [8, 16, 24, 32, 40, 48, 56, 64, 96, 128, 256]
# Feature sizes no group size divides.
ODD_DIMS = [3, 5, 12, 20, 36, 44, 50, 60, 90, 100, 12, 100]
HALF = ("bf16", "f16")
ELEM_BYTES = {"f32": 4, "bf16": 2, "f16": 2, "i32": 4, "i8": 1}

WEIGHT_PATTERNS = ["uniform", "uniform", "uniform", "gauss", "zero_rows", "const_rows",
                   "sparse", "tiny", "large", "mixed_scale"]


def weight_values(rng, n, k, pattern, et):
    """n x k weights (row-major, N x K) following a pattern."""
    count = n * k
    if pattern == "tiny" and et == "f16":
        pattern = "uniform"
    rnd = rng.random
    if pattern == "gauss" and count <= 20000:
        g = rng.gauss
        vals = [g(0.0, 0.05) for _ in range(count)]
    elif pattern == "tiny":
        vals = [(rnd() * 2.0 - 1.0) * 1e-30 for _ in range(count)]
    elif pattern == "large":
        vals = [(rnd() * 2.0 - 1.0) * 900.0 for _ in range(count)]
    elif pattern == "sparse":
        vals = [((rnd() * 2.0 - 1.0) * 0.1 if rnd() < 0.2 else 0.0) for _ in range(count)]
    else:
        vals = [(rnd() * 2.0 - 1.0) * 0.1 for _ in range(count)]
    if pattern == "zero_rows":
        for r in range(n):
            if rng.random() < 0.3:
                vals[r * k:(r + 1) * k] = [0.0] * k
    elif pattern == "const_rows":
        for r in range(n):
            if rng.random() < 0.3:
                vals[r * k:(r + 1) * k] = [rng.choice([0.5, -0.25, 1e-3])] * k
    elif pattern == "mixed_scale":
        for r in range(n):
            s = rng.choice([1e-3, 1.0, 10.0, 100.0])
            vals[r * k:(r + 1) * k] = [v * s for v in vals[r * k:(r + 1) * k]]
    return vals


def exact(values, et):
    """values rounded to what et holds, so that a decimal literal and the hex
    bits agree."""
    n = len(values)
    if et == "f32":
        return list(struct.unpack(f"<{n}f", struct.pack(f"<{n}f", *values)))
    if et == "f16":
        return list(struct.unpack(f"<{n}e", struct.pack(f"<{n}e", *values)))
    raw = bytearray(to_bytes(values, "bf16"))
    out = bytearray(4 * n)
    out[2::4] = raw[0::2]
    out[3::4] = raw[1::2]
    return list(struct.unpack(f"<{n}f", bytes(out)))


def act_values(rng, count):
    rnd = rng.random
    return [rnd() * 2.0 - 1.0 for _ in range(count)]
