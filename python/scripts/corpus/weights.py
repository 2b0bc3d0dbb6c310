"""Weight sources: dense hex and literal constants, splats, dense_resource blobs, weights
traced through pure ops (traced.py), function arguments (weights only when marked
r2q.weight or named in the weight-args option), and the dequantize(quantize(W))
reference of a weight."""

from .data import ELEM_BYTES
from .ir import float_lit, hex_of, transpose_list, ttype
from .traced import emit_traced

# How an argument weight is made a weight: not at all (the pass must leave its
# contraction in float with a remark), by the r2q.weight argument attribute, or
# by the weight-args option.
ARG_MARKS = [None, None, "attr", "attr", "option"]


class Weight:
    """A 2-D weight: N x K values (row-major), stored N x K or K x N."""

    def __init__(self, n, k, et, kind, orient, values, pattern):
        self.n, self.k, self.et, self.kind, self.orient = n, k, et, kind, orient
        self.values = values  # N x K, None for args in general modules
        self.pattern = pattern
        self.ssa = None
        self.key = None
        self.argno = None
        self.mark = None    # args: None, "attr" or "option"
        self.chain = None   # traced: a traced.Chain

    @property
    def is_weight(self):
        """Whether r2q-quantize-linear may take this for a weight."""
        return self.kind != "arg" or self.mark is not None

    @property
    def shape(self):
        return [self.n, self.k] if self.orient == "nk" else [self.k, self.n]

    @property
    def type(self):
        return ttype(self.shape, self.et)

    def stored_values(self):
        if self.orient == "nk":
            return self.values
        return transpose_list(self.values, self.n, self.k)


def materialize_weight(f, w):
    """Emits (once per function) the weight's constant or argument."""
    if w.ssa is not None:
        return w.ssa
    mod = f.mod
    if w.kind == "arg":
        return weight_arg(f, w)
    if w.kind == "traced":
        w.ssa = emit_traced(f, w)
        return w.ssa
    v = f.fresh("cst")
    if w.kind == "list":
        rows, cols = w.shape
        vals = w.stored_values()
        lit = "[" + ", ".join("[" + ", ".join(repr(vals[r * cols + c]) for c in range(cols)) + "]"
                              for r in range(rows)) + "]"
        f.emit(f"{v} = arith.constant dense<{lit}> : {w.type}")
    elif w.kind == "splat":
        lit = float_lit(w.values[0])
        f.emit(f"{v} = arith.constant dense<{lit}> : {w.type}")
    elif w.kind == "hex":
        f.emit(f'{v} = arith.constant dense<"0x{hex_of(w.stored_values(), w.et)}"> : {w.type}')
    elif w.kind == "resource":
        w.key = mod.resource_key(w.shape[0], w.shape[1], w.et)
        align = "04000000" if ELEM_BYTES[w.et] == 4 else "02000000"
        mod.resources[w.key] = "0x" + align + hex_of(w.stored_values(), w.et)
        f.emit(f"{v} = arith.constant dense_resource<{w.key}> : {w.type}")
    else:
        raise ValueError(w.kind)
    w.ssa = v
    return v


def vanishes_in_f16(w):
    """Whether w is a constant so small (the "tiny" pattern, ~1e-30) that
    its f16 scales would all round to zero: r2q-quantize-linear then gives
    the layer f32 scales with a warning."""
    if w.kind == "arg" or not w.values:
        return False
    largest = max(abs(v) for v in w.values)
    return 0.0 < largest < 1e-20


def weight_arg(f, w):
    """The argument of weight w, marked as w.mark says."""
    w.ssa, w.argno = f.arg(w.type, "{r2q.weight}" if w.mark == "attr" else "")
    if w.mark == "option":
        f.mod.weight_args.append(f"{f.name}:arg{w.argno}")
    return w.ssa


def reference_weight(f, w, scheme):
    """dequantize(quantize(W)) in f32, in W's storage orientation."""
    g, planes, method, st = scheme
    c = f.fresh("wref")
    nk = ttype([w.n, w.k], w.et)
    f.emit(f'{c} = arith.constant dense<"0x{hex_of(w.values, w.et)}"> : {nk}')
    s, a = f.fresh("s"), f.fresh("a")
    f.emit(f"{s}, {a} = r2q.quantize {c} scheme <group_size = {g}, planes = {planes}, method = {method}, "
           f"scale_type = {st}> : {nk}")
    d = f.fresh("deq")
    f.emit(f"{d} = r2q.dequantize {s}, {a} group_size {g} : tensor<{planes}x{w.n}x{-(-w.k // 8)}xi8>, "
           f"tensor<{planes}x{w.n}x{-(-w.k // g)}x{st}> -> {ttype([w.n, w.k], 'f32')}")
    if w.orient == "nk":
        return d
    e = f.empty([w.k, w.n], [None, None], "f32")
    t = f.fresh("wreft")
    f.emit(f"{t} = linalg.transpose ins({d} : {ttype([w.n, w.k], 'f32')}) outs({e} : {ttype([w.k, w.n], 'f32')}) "
           "permutation = [1, 0]")
    return t
