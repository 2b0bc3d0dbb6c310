"""Traced weights: a 2-D weight computed at compile time from a constant through pure ops.

The constant (a dense hex constant, a dense_resource blob or an immutable
ml_program.global read with global_load_const) holds floats of the weight's
type, f16/bf16 widened by arith.extf, or int8 / int4-in-i8 codes dequantized
by arith.sitofp / arith.uitofp (optionally after arith.extsi / arith.extui),
minus a zero point, times a scale (scalar or per output row). On the way it
may be a fused constant sliced along N or along K (tensor.extract_slice), a
3-D constant collapsed to 2-D (tensor.collapse_shape), or scaled by a generic
(w * c, w / c, w * s[n]). r2q-quantize-linear folds the chain and quantizes
the result at compile time. The generator computes the folded values itself,
rounding after every op to the op's element type (an f32 / f16 / bf16
operation on exact operands, done in double and rounded once, is exactly the
IEEE result), so execution modules compare against dequantize(quantize(W)) of
those values."""

import random
import struct

from .data import exact, weight_values
from .ir import amap, generic, hex_of, idmap, ttype

# The numbers a weight's codes come from: floats of the weight's own type,
# half floats widened to f32, or integer codes dequantized to the weight type.
DOMAINS = ["float", "float", "half", "int8", "uint8", "int4", "uint4"]
# Where the constant lives.
STORAGES = ["hex", "hex", "resource", "global"]
# What shape the constant has before it is the weight.
SHAPES = [None, None, "slice_n", "slice_n", "slice_k", "collapse"]
# A scaling generic after the codes are floats.
SCALES = [None, None, "mul", "div", "row"]
# Exactly representable factors, so the literal and the generator agree.
FACTORS = [0.5, 0.25, 1.5, 0.75, 2.0, 1.25, 0.125, 3.0]
DIVISORS = [3.0, 5.0, 7.0, 10.0, 0.75]


def round_to(values, et):
    """values (doubles) rounded to nearest even in et, as doubles."""
    n = len(values)
    if et == "f32":
        return list(struct.unpack(f"<{n}f", struct.pack(f"<{n}f", *values)))
    if et == "f16":
        return list(struct.unpack(f"<{n}e", struct.pack(f"<{n}e", *values)))
    bits = struct.unpack(f"<{n}I", struct.pack(f"<{n}f", *values))
    out = []
    for b in bits:
        b16 = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
        out.append(struct.unpack("<f", struct.pack("<I", (b16 << 16) & 0xFFFFFFFF))[0])
    return out


class Chain:
    """How a traced weight is computed (all random choices, drawn up front)."""

    def __init__(self, rng, et, orient, allow_global=True):
        self.domain = rng.choice(DOMAINS)
        if self.domain == "half" and et != "f32":
            self.domain = "float"
        self.storage = rng.choice(STORAGES if allow_global else STORAGES[:3])
        if self.storage == "resource" and self.domain not in ("float", "half"):
            self.storage = "hex"
        self.shape_op = rng.choice(SHAPES)
        self.scale = rng.choice(SCALES)
        self.zero_point = rng.choice([None, "scalar", "row"])
        self.dequant_scale = rng.choice(["scalar", "row"])
        self.widen_int = rng.random() < 0.25       # extsi / extui to i32 before the conversion
        self.split_dequant = rng.random() < 0.3    # conversion and scaling in two generics
        self.n_axis = 0 if orient == "nk" else 1   # the dimension of N in the stored weight
        self.fused = rng.randint(2, 3)
        self.part = rng.randrange(self.fused)
        self.extra_k = rng.choice([8, 16, 64, 3, 40])
        self.k_offset = rng.choice([0, self.extra_k, rng.randrange(self.extra_k + 1)])
        self.collapse_axis = rng.choice([0, 1])

    def tags(self):
        return [f"traced:{self.domain}", f"traced:{self.storage}", f"traced:{self.shape_op or 'whole'}",
                f"traced:scale_{self.scale or 'none'}"]


def make_codes(rng, chain, rows, cols, et, pattern):
    """The stored codes (rows x cols, storage orientation) and the weight's
    float values computed from them, both row-major."""
    count = rows * cols
    d = chain.domain
    if d == "float":
        return None, exact(weight_values(rng, rows, cols, pattern, et), et)
    if d == "half":
        half = rng.choice(["f16", "bf16"])
        chain.half = half
        vals = exact(weight_values(rng, rows, cols, pattern if pattern != "tiny" else "uniform", half), half)
        return vals, vals
    lo, hi = {"int8": (-128, 127), "uint8": (0, 255), "int4": (-8, 7), "uint4": (0, 15)}[d]
    codes = [rng.randint(lo, hi) for _ in range(count)]
    return codes, None


def row_index(chain, i, cols):
    """The output row (N index) of element i of a stored rows x cols weight."""
    return i // cols if chain.n_axis == 0 else i % cols


def per_row(values, chain, i, cols):
    return values[row_index(chain, i, cols)] if len(values) > 1 else values[0]


def dequant_values(rng, chain, codes, rows, cols, et):
    """Float values of integer codes: (code - zero point) * scale, in et."""
    n_count = rows if chain.n_axis == 0 else cols
    chain.unsigned = chain.domain in ("uint8", "uint4")
    mid = {"int8": 0, "uint8": 128, "int4": 0, "uint4": 8}[chain.domain]
    top = {"int8": 127.0, "uint8": 255.0, "int4": 8.0, "uint4": 15.0}[chain.domain]
    chain.zp_values = None
    if chain.zero_point == "scalar":
        chain.zp_values = [float(mid + rng.randint(-2, 2))]
    elif chain.zero_point == "row":
        chain.zp_values = [float(mid + rng.randint(-3, 3)) for _ in range(n_count)]
    count = 1 if chain.dequant_scale == "scalar" else n_count
    chain.dq_scales = round_to([rng.uniform(0.2, 1.0) / top for _ in range(count)], et)
    values = round_to([float(c) for c in codes], et)
    if chain.zp_values is not None:
        values = round_to([v - per_row(chain.zp_values, chain, i, cols) for i, v in enumerate(values)], et)
    return round_to([v * per_row(chain.dq_scales, chain, i, cols) for i, v in enumerate(values)], et)


def apply_scale(rng, chain, values, rows, cols, et):
    """The optional scaling generic: w * c, w / c, or w * s[n]."""
    if chain.scale is None:
        return values
    n_count = rows if chain.n_axis == 0 else cols
    if chain.scale == "mul":
        chain.factor = rng.choice(FACTORS)
        return round_to([v * chain.factor for v in values], et)
    if chain.scale == "div":
        chain.factor = rng.choice(DIVISORS)
        return round_to([v / chain.factor for v in values], et)
    chain.row_scales = round_to([rng.uniform(0.5, 2.0) for _ in range(n_count)], et)
    return round_to([v * per_row(chain.row_scales, chain, i, cols) for i, v in enumerate(values)], et)


def make_traced(rng, w, pattern):
    """Draws the chain of weight w (kind "traced") and sets its values (N x K)."""
    rows, cols = w.shape
    chain = w.chain
    codes, floats = make_codes(rng, chain, rows, cols, w.et, pattern)
    if chain.domain in ("int8", "uint8", "int4", "uint4"):
        floats = dequant_values(rng, chain, codes, rows, cols, w.et)
    vals = apply_scale(rng, chain, floats, rows, cols, w.et)
    chain.root_block = codes if codes is not None else floats  # the stored block, before any scaling
    chain.filler_seed = rng.getrandbits(32)
    w.values = vals if w.orient == "nk" else [vals[c * cols + r] for r in range(cols) for c in range(rows)]


# ----------------------------------------------------------------------------
# Emission
# ----------------------------------------------------------------------------


def stored_et(chain, w):
    if chain.domain == "float":
        return w.et
    if chain.domain == "half":
        return chain.half
    return "i8"


def root_constant(f, w, shape, values, et):
    """The constant the chain starts from: hex, dense_resource or a global."""
    chain = w.chain
    mod = f.mod
    ty = ttype(shape, et)
    data = hex_of(values, et)
    v = f.fresh("root")
    if chain.storage == "resource":
        key = mod.resource_key(shape[0], shape[-1], et)
        align = {"f32": "04000000", "i8": "01000000"}.get(et, "02000000")
        mod.resources[key] = "0x" + align + data
        f.emit(f"{v} = arith.constant dense_resource<{key}> : {ty}")
    elif chain.storage == "global":
        name = f"corpus_weight_{len(mod.globals)}"
        mod.globals.append(f'ml_program.global private @{name}(dense<"0x{data}"> : {ty}) : {ty}')
        f.emit(f"{v} = ml_program.global_load_const @{name} : {ty}")
    else:
        f.emit(f'{v} = arith.constant dense<"0x{data}"> : {ty}')
    return v


def fused_root(f, w, et):
    """Emits the constant and the slice / collapse that yields the stored block
    (rows x cols) in et; returns its SSA value."""
    chain = w.chain
    rows, cols = w.shape
    block = chain.root_block
    rng = random.Random(chain.filler_seed)

    def filler(count):
        if et == "i8":
            lo, hi = (0, 255) if chain.domain in ("uint8", "uint4") else (-128, 127)
            return [rng.randint(lo, hi) for _ in range(count)]
        return exact([rng.uniform(-0.1, 0.1) for _ in range(count)], et)

    op = chain.shape_op
    if op is None:
        return root_constant(f, w, [rows, cols], block, et)
    if op == "collapse":
        axis = chain.collapse_axis
        size = (rows, cols)[axis]
        a = next((d for d in (4, 3, 2, 8) if size % d == 0 and size > d), 1)
        three = [a, size // a, cols] if axis == 0 else [rows, a, size // a]
        assoc = "[[0, 1], [2]]" if axis == 0 else "[[0], [1, 2]]"
        root = root_constant(f, w, three, block, et)
        v = f.fresh("wcol")
        f.emit(f"{v} = tensor.collapse_shape {root} {assoc} : {ttype(three, et)} into {ttype([rows, cols], et)}")
        return v
    # A fused constant, sliced along N (QKV / gate-up) or along K.
    n_axis = chain.n_axis
    axis = n_axis if op == "slice_n" else 1 - n_axis
    big = [rows, cols]
    if op == "slice_n":
        big[axis] *= chain.fused
        offset = chain.part * (rows, cols)[axis]
    else:
        big[axis] += chain.extra_k
        offset = chain.k_offset
    data = filler(big[0] * big[1])
    for r in range(rows):
        for c in range(cols):
            br, bc = (r + offset, c) if axis == 0 else (r, c + offset)
            data[br * big[1] + bc] = block[r * cols + c]
    root = root_constant(f, w, big, data, et)
    offs = [offset, 0] if axis == 0 else [0, offset]
    v = f.fresh("wslice")
    f.emit(f"{v} = tensor.extract_slice {root}[{offs[0]}, {offs[1]}] [{rows}, {cols}] [1, 1] : "
           f"{ttype(big, et)} to {ttype([rows, cols], et)}")
    return v


def row_constant(f, values, et, n_axis):
    """A per-row (per output channel) constant and its indexing map."""
    v = f.fresh("rows")
    f.emit(f'{v} = arith.constant dense<"0x{hex_of(values, et)}"> : {ttype([len(values)], et)}')
    return (v, ttype([len(values)], et), et, amap(2, [n_axis]))


def pointwise(f, src, src_et, shape, out_et, extra, body_lines):
    """A 2-D element-wise generic; body_lines(f, args) -> (lines, result)."""
    ins = [(src, ttype(shape, src_et), src_et, idmap(2))] + extra

    def body(f, a, o):
        return body_lines(f, a)

    return generic(f, ins, shape, [None, None], out_et, ["parallel", "parallel"], idmap(2), body)


def dequantize(f, w, src):
    """(convert(code) - zero point) * scale, in one or two generics."""
    chain = w.chain
    et = w.et
    shape = w.shape
    conv = "arith.uitofp" if chain.unsigned else "arith.sitofp"
    widen = "arith.extui" if chain.unsigned else "arith.extsi"
    extra = []
    zp_arg = sc_arg = None
    if chain.zp_values is not None and len(chain.zp_values) > 1:
        extra.append(row_constant(f, chain.zp_values, et, chain.n_axis))
        zp_arg = len(extra)
    scale_row = len(chain.dq_scales) > 1
    if scale_row and not chain.split_dequant:
        extra.append(row_constant(f, chain.dq_scales, et, chain.n_axis))
        sc_arg = len(extra)

    def convert_lines(f, a):
        lines = []
        x = a[0]
        if chain.widen_int:
            t = f.fresh("t")
            lines.append(f"{t} = {widen} {x} : i8 to i32")
            x, src_t = t, "i32"
        else:
            src_t = "i8"
        y = f.fresh("t")
        lines.append(f"{y} = {conv} {x} : {src_t} to {et}")
        if chain.zp_values is not None:
            z = a[zp_arg] if zp_arg else f.fresh("t")
            if not zp_arg:
                lines.append(f"{z} = arith.constant {chain.zp_values[0]:.1f} : {et}")
            s = f.fresh("t")
            lines.append(f"{s} = arith.subf {y}, {z} : {et}")
            y = s
        return lines, y

    def scale_lines(f, a, x, idx):
        s = a[idx] if idx else f.fresh("t")
        lines = [] if idx else [f"{s} = arith.constant {chain.dq_scales[0]!r} : {et}"]
        m = f.fresh("t")
        return lines + [f"{m} = arith.mulf {x}, {s} : {et}"], m

    if chain.split_dequant:
        v = pointwise(f, src, "i8", shape, et, extra, convert_lines)
        extra2 = [row_constant(f, chain.dq_scales, et, chain.n_axis)] if scale_row else []
        return pointwise(f, v, et, shape, et, extra2, lambda f, a: scale_lines(f, a, a[0], 1 if scale_row else 0))

    def both(f, a):
        lines, y = convert_lines(f, a)
        more, m = scale_lines(f, a, y, sc_arg)
        return lines + more, m

    return pointwise(f, src, "i8", shape, et, extra, both)


def scale_generic(f, w, src):
    """w * c, w / c, or w * s[n]."""
    chain, et = w.chain, w.et
    if chain.scale == "row":
        extra = [row_constant(f, chain.row_scales, et, chain.n_axis)]

        def row_body(f, a):
            r = f.fresh("t")
            return [f"{r} = arith.mulf {a[0]}, {a[1]} : {et}"], r

        return pointwise(f, src, et, w.shape, et, extra, row_body)
    op = "arith.mulf" if chain.scale == "mul" else "arith.divf"

    def body(f, a):
        c, r = f.fresh("t"), f.fresh("t")
        return [f"{c} = arith.constant {chain.factor!r} : {et}", f"{r} = {op} {a[0]}, {c} : {et}"], r

    return pointwise(f, src, et, w.shape, et, [], body)


def widen(f, w, src):
    half = w.chain.half

    def body(f, a):
        t = f.fresh("t")
        return [f"{t} = arith.extf {a[0]} : {half} to {w.et}"], t

    return pointwise(f, src, half, w.shape, w.et, [], body)


def emit_traced(f, w):
    """Emits the chain of a traced weight; returns the weight's SSA value."""
    chain = w.chain
    et = stored_et(chain, w)
    v = fused_root(f, w, et)
    if chain.domain == "half":
        v = widen(f, w, v)
    elif chain.domain != "float":
        v = dequantize(f, w, v)
    if chain.scale is not None:
        v = scale_generic(f, w, v)
    return v
