#!/usr/bin/env python3
"""Writes the r2q.matmul functions the GPU harness runs (kernels.mlir), the
correctness cases again for r2q-gpu-pipeline{check-bounds=true}
(kernels_checked.mlir) and their table for the harness (kernels.inc): the
ragged correctness cases and the benchmark shapes. Each function's weight operands are runtime tensors, so
the harness can rotate copies of the weights (L2-cold timings), but for the
constant-weight checks (CONSTANT), whose weight the module holds, as a
compiled model does."""
import struct
import sys

# (name, rows M, features N, columns K, group size, planes, input, scales)
CHECKS = [
    ("check_a", 1, 37, 576, 128, 2, "f32", "f16"),
    ("check_b", 3, 1000, 4100, 128, 2, "f16", "f16"),
    ("check_c", 5, 515, 1536, 64, 3, "f32", "f32"),
    ("check_d", 13, 77, 2600, 256, 2, "bf16", "f16"),
    ("check_e", 16, 4096, 4096, 128, 2, "f32", "f16"),
    ("check_f", 2, 33, 13, 8, 4, "f32", "bf16"),
    # K a multiple of a slice's 256 columns, not of a step's 512 (the
    # row-interleaved layout's last step half past K).
    ("check_s", 1, 300, 1280, 64, 2, "f32", "f16"),
    # Batches for the tensor cores (mma_gemm from 16 rows on): odd ones, N
    # not a multiple of a block's 128 features, K not a multiple of a step's
    # 64 columns, a short last group.
    ("check_g", 17, 200, 300, 32, 2, "f16", "f32"),
    ("check_h", 33, 130, 520, 40, 1, "f32", "f16"),
    ("check_i", 130, 77, 640, 64, 2, "f16", "f16"),
    ("check_j", 47, 515, 2600, 256, 3, "bf16", "bf16"),
    # Groups of 16 columns: four tables a step in mma_gemm's decode.
    ("check_t", 24, 150, 720, 16, 2, "f16", "f16"),
    # 4 planes through two tables a group in the tensor cores' decode (3:
    # check_c's and check_j's), and a partial last step.
    ("check_u", 20, 150, 1000, 128, 4, "f32", "f16"),
    # With 1% of the weights kept as f16 outliers (the sparse product after
    # the kernel's): the tables at batch 1, the tensor cores at 20 rows.
    ("check_o", 1, 300, 1000, 128, 2, "f32", "f16"),
    ("check_p", 20, 200, 640, 64, 2, "f16", "f16"),
]
# The cases whose functions take outliers (i32 row offsets, i16 columns, f16
# values: r2q.matmul's outlier operands).
OUTLIERS = {"check_o", "check_p"}
SHAPES = [(4096, 4096), (8192, 8192), (28672, 8192), (8192, 28672)]
BATCHES = [1, 4, 16, 128]
BENCH = [(f"bench_{n}x{k}_b{m}", m, n, k, 128, 2, "f32", "f16")
         for (n, k) in SHAPES for m in BATCHES]
# Kernels written on the op, by name: (strategy, tile_rows: output features
# per warp, or per block for mma_gemm). Without one, r2q-select-gpu-kernels
# chooses: warp_lut_gemv below MMA_MIN_ROWS rows, mma_gemm from there on.
KERNELS = {}
MMA_MIN_ROWS = 16  # r2q-select-gpu-kernels' kMmaMinRows


# Functions with a dynamic batch (tensor<?xK>), which r2q-gpu-pipeline runs
# on static buckets of rows (r2q-bucket-rows' default buckets).
DYNAMIC = set()
BUCKETS = [1, 4, 16, 64, 256]


def strategy_of(name, m):
    """The kernel that runs case `name` of `m` rows (the harness checks
    mma_gemm, which rounds to f16, within its own bound)."""
    if name in KERNELS:
        return KERNELS[name][0]
    if name in CONSTANT and m == 1:
        return "byte_lut_gemv"
    if name in DYNAMIC:
        m = next((b for b in BUCKETS if m <= b), BUCKETS[-1])
    return "mma_gemm" if m >= MMA_MIN_ROWS else "warp_lut_gemv"


def variant(case, suffix, strategy, tile_rows=0):
    """`case` under another name with a kernel written on its op."""
    name = f"{case[0]}_{suffix}"
    KERNELS[name] = (strategy, tile_rows)
    if case[0] in OUTLIERS:
        OUTLIERS.add(name)
    return (name, *case[1:])


# Both warp kernels on every ragged case, the tensor cores on those of at
# least 3 rows too (and with 64 and 192 features per block on two).
base_checks = list(CHECKS)
CHECKS += [variant(c, "xor", "warp_gemv") for c in base_checks]
CHECKS += [variant(c, "lut", "warp_lut_gemv") for c in base_checks
           if c[1] >= MMA_MIN_ROWS]
CHECKS += [variant(c, "mma", "mma_gemm") for c in base_checks
           if 3 <= c[1] < MMA_MIN_ROWS]
CHECKS += [variant(next(c for c in base_checks if c[0] == name),
                   f"mma_t{t}", "mma_gemm", t)
           for name, t in (("check_g", 64), ("check_j", 192))]
# wgmma_gemm (sm_90a's warpgroup products, chosen only when written on the
# op) on every case the tensor cores take, and with 64 and 192 features per
# block.
CHECKS += [variant(c, "wgmma", "wgmma_gemm") for c in base_checks
           if c[1] >= MMA_MIN_ROWS]
CHECKS += [variant(next(c for c in base_checks if c[0] == name),
                   f"wgmma_t{t}", "wgmma_gemm", t)
           for name, t in (("check_g", 64), ("check_j", 192))]
# The xor kernel beside the tables at every shape and batch, and 2 and 8
# output features per warp for both at batch 1.
BENCH += [variant(c, "xor", "warp_gemv") for c in BENCH]
big_b1 = next(c for c in BENCH if c[0] == "bench_28672x8192_b1")
BENCH += [variant(big_b1, f"lut_t{t}", "warp_lut_gemv", t) for t in (2, 8)]
BENCH += [variant(big_b1, f"xor_t{t}", "warp_gemv", t) for t in (2, 8)]
# The tables beside the tensor cores at batch 16 and 128 (auto chooses
# mma_gemm there), and mma_gemm's 64 and 192 features per block.
BENCH += [variant(c, "lut", "warp_lut_gemv") for c in BENCH
          if c[1] >= MMA_MIN_ROWS and c[0] not in KERNELS]
# The tensor cores at batch 4 too (the rows padded to a block of 16): where
# their decode, once per weight, beats the tables' pass per row, auto
# should choose them below 16 rows.
BENCH += [variant(c, "mma", "mma_gemm") for c in BENCH
          if c[1] == 4 and c[0] not in KERNELS]
big_b128 = next(c for c in BENCH if c[0] == "bench_28672x8192_b128")
BENCH += [variant(big_b128, f"mma_t{t}", "mma_gemm", t) for t in (64, 192)]
# wgmma_gemm beside mma_gemm at batch 16 and 128 of every shape, and with 192
# features per block (three products a slice) at batch 128 of the largest.
BENCH += [variant(c, "wgmma", "wgmma_gemm") for c in BENCH
          if c[1] >= MMA_MIN_ROWS and c[0] not in KERNELS]
BENCH += [variant(big_b128, "wgmma_t192", "wgmma_gemm", 192)]
# A dynamic batch: 3 rows in the bucket of 4 (the tables), 300 rows in
# chunks of 256 (the tensor cores; the last chunk padded).
DYNAMIC_CHECKS = [("check_q", 3, 300, 1000, 128, 2, "f32", "f16"),
                  ("check_r", 300, 200, 640, 64, 2, "f16", "f16")]
DYNAMIC.update(c[0] for c in DYNAMIC_CHECKS)
CHECKS += DYNAMIC_CHECKS
# The byte-table kernel (weights in the row-interleaved layout, packed by
# the harness) on every ragged case and at batch 1 and 4 of every shape, and
# with 1 and 2 blocks of 16 rows per warp (16 and 32 features; the default
# is 64) at batch 1 of the largest. (8 blocks, 128 features, spill: their
# 128 sums a lane do not fit the 128 registers that two blocks of 256
# threads per SM leave a thread.)
CHECKS += [variant(c, "bytes", "byte_lut_gemv") for c in base_checks]
assert not DYNAMIC & set(KERNELS), "a written kernel needs a static batch"
# A weight that is a constant of the module, as in a compiled model: at
# batch 1 r2q-select-gpu-kernels takes byte_lut_gemv and r2q-pack-weights
# packs the weight at compile time; 5 rows take the tables, 20 the tensor
# cores. The kernels read the constants' device copies, which the first
# call makes (r2q-gpu-host-buffers); the harness calls each twice. K is a
# multiple of 8, so no sign bits pad the rows.
CONSTANT_CHECKS = [(f"check_k{m}", m, 300, 1000, 128, 2, "f32", "f16")
                   for m in (1, 5, 20)]
CONSTANT = {c[0] for c in CONSTANT_CHECKS}
CHECKS += CONSTANT_CHECKS
BENCH += [variant(c, "bytes", "byte_lut_gemv") for c in BENCH
          if c[1] <= 4 and c[0] not in KERNELS]
BENCH += [variant(big_b1, f"bytes_t{t}", "byte_lut_gemv", t)
          for t in (16, 32)]
# f16 activations (half the activation bytes).
BENCH += [(f"bench_28672x8192_b{m}_xf16", m, 28672, 8192, 128, 2, "f16",
           "f16") for m in (1, 4)]
# 3 and 4 planes (3.4 and 4.5 bits) on the tensor cores' table decode, both
# GEMM kernels; scripts/gpu-table.py shows them apart from the 2-bit
# targets.
wider = [(f"bench_28672x8192_b{m}_p{p}", m, 28672, 8192, 128, p, "f32", "f16")
         for m in (16, 128) for p in (3, 4)]
BENCH += wider + [variant(c, "wgmma", "wgmma_gemm") for c in wider]

# Every correctness case again as bounds_*, compiled with the kernels' runtime
# bounds checks (kernels_checked.mlir): `r2q-gpu-bench bounds` names the
# access a kernel makes outside its buffer, where the check cases see wrong
# numbers, a fault or nothing (docs/gpu.md, "Tests").


def bounds_copy(case):
    """Check case `case` as the bounds_* case of the same weight and kernel."""
    name = "bounds" + case[0][len("check"):]
    for names in (OUTLIERS, CONSTANT, DYNAMIC):
        if case[0] in names:
            names.add(name)
    if case[0] in KERNELS:
        KERNELS[name] = KERNELS[case[0]]
    return (name, *case[1:])


BOUNDS = [bounds_copy(c) for c in CHECKS]


def interleaved(name):
    """Whether case `name` takes its weight in the row-interleaved layout
    (docs/format.md): byte_lut_gemv reads nothing else."""
    return name in KERNELS and KERNELS[name][0] == "byte_lut_gemv"


def weight_types(name, n, k, g, p, st):
    """The types of the sign planes and scales of case `name`."""
    kb, groups = (k + 7) // 8, (k + g - 1) // g
    if not interleaved(name):
        return f"tensor<{p}x{n}x{kb}xi8>", f"tensor<{p}x{n}x{groups}x{st}>"
    blocks, steps = (n + 15) // 16, (kb + 63) // 64
    return (f"tensor<{p}x{blocks}x{steps * 1024}xi8>",
            f"tensor<{p}x{blocks}x{16 * groups}x{st}>")


def constant_sign_byte(i):
    """Byte i of a constant weight's sign planes (GpuBench.cpp's
    constantSignByte computes the same)."""
    x = (i * 2654435761 + 97) % 2**32
    x = ((x ^ (x >> 15)) * 2246822519) % 2**32
    return (x ^ (x >> 13)) & 0xFF


def constant_scale(j, scales_per_plane):
    """Scale j of a constant weight (GpuBench.cpp's constantScale): exact in
    f16, a plane a quarter of the one before."""
    return (1 + j * 37 % 13) * 2.0 ** -(8 + 2 * (j // scales_per_plane))


def constant_weight(n, k, g, p, st):
    """The arith.constant ops of a constant weight: hex literals of its sign
    planes (p x n x K/8 bytes) and f16 scales."""
    assert k % 8 == 0 and st == "f16"
    groups = (k + g - 1) // g
    signs = bytes(constant_sign_byte(i) for i in range(p * n * k // 8))
    scales = b"".join(struct.pack("<e", constant_scale(j, n * groups))
                      for j in range(p * n * groups))
    return (f"  %s = arith.constant dense<\"0x{signs.hex().upper()}\"> : "
            f"tensor<{p}x{n}x{k // 8}xi8>\n"
            f"  %a = arith.constant dense<\"0x{scales.hex().upper()}\"> : "
            f"tensor<{p}x{n}x{groups}xf16>\n")


def function(name, m, n, k, g, p, xt, st):
    s, a = weight_types(name, n, k, g, p, st)
    rows = "?" if name in DYNAMIC else m
    x, y = f"tensor<{rows}x{k}x{xt}>", f"tensor<{rows}x{n}xf32>"
    if name in CONSTANT:
        return (f"func.func @{name}(%x: {x}) -> {y} {{\n"
                + constant_weight(n, k, g, p, st) +
                f"  %y = r2q.matmul %x, %s, %a group_size {g} : "
                f"{x}, {s}, {a} -> {y}\n"
                f"  return %y : {y}\n}}\n")
    arguments, operands, types = "", "", ""
    if name in OUTLIERS:
        o, c, v = f"tensor<{n + 1}xi32>", "tensor<?xi16>", "tensor<?xf16>"
        arguments = f", %o: {o}, %c: {c}, %v: {v}"
        operands = " outliers(%o, %c, %v)"
        types = f", outliers({o}, {c}, {v})"
    kernel = ""
    if name in KERNELS:
        strategy, tile = KERNELS[name]
        layout = "layout = row_interleaved, " if interleaved(name) else ""
        kernel = (f" {{kernel = #r2q.kernel<strategy = {strategy}, {layout}"
                  f"vector_width = 16, tile_rows = {tile}, threads = 1>}}")
    return (f"func.func @{name}(%x: {x}, %s: {s}, %a: {a}{arguments}) -> {y} "
            f"{{\n"
            f"  %y = r2q.matmul %x, %s, %a{operands} group_size {g}{kernel} : "
            f"{x}, {s}, {a}{types} -> {y}\n"
            f"  return %y : {y}\n}}\n")


def main(mlir_path, checked_mlir_path, inc_path):
    for path, functions in ((mlir_path, CHECKS + BENCH),
                            (checked_mlir_path, BOUNDS)):
        with open(path, "w") as out:
            for case in functions:
                out.write(function(*case))
    cases = CHECKS + BENCH + BOUNDS
    with open(inc_path, "w") as out:
        for name, *_ in cases:
            memrefs = 2 if name in CONSTANT else 7 if name in OUTLIERS else 4
            out.write(f"extern \"C\" void _mlir_ciface_{name}("
                      + ", ".join(["void *"] * memrefs) + ");\n")
        out.write("static const KernelCase kCases[] = {\n")
        for name, m, n, k, g, p, xt, st in cases:
            out.write(f"  {{\"{name}\", {m}, {n}, {k}, {g}, {p}, \"{xt}\", "
                      f"\"{st}\", \"{strategy_of(name, m)}\", "
                      f"{str(interleaved(name)).lower()}, "
                      f"{str(name in OUTLIERS).lower()}, "
                      f"{str(name in CONSTANT).lower()}, "
                      f"reinterpret_cast<void *>(_mlir_ciface_{name})}},\n")
        out.write("};\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
