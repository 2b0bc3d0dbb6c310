#!/usr/bin/env python3
"""Generates a corpus of varied linalg-on-tensors MLIR modules and checks r2q-opt on it.

Usage:
  ir_corpus.py --count N --seed S --r2q-opt build/bin/r2q-opt --out DIR
               [--execute-fraction F] [--keep] [--jobs J]
               [--module-seed M --kind general|untouched|exec]

Each module is generated from its own seed (derived from --seed, written in
its first-line comment; --module-seed with --kind regenerates and checks just
that one). Three kinds: general modules, "untouched" modules whose options
leave every layer in float, and execution modules (--execute-fraction).

General modules hold 1-3 functions on f32, f16 or bf16 activations (rank 2
or 3, static or dynamic batch/sequence sizes; half-precision layers
accumulate in f32 and are truncated after, as Torch-MLIR emits them):

  * linear layers in every form r2q-quantize-linear matches:
    linalg.transpose + linalg.fill + linalg.matmul; linalg.matmul with
    indexing_maps reading N x K; contraction linalg.generic and
    linalg.contract (loops in any order, activation and result in any
    layout); linalg.batch_matmul of a linalg.broadcast weight, or with
    indexing_maps broadcasting a K x N weight; a half weight transposed and
    widened by an arith.extf generic before an f32 matmul; a K x N weight
    read directly; the weight as the left operand (y^T = W x^T, also as a
    generic); linalg.matvec / linalg.vecmat on one row; the weight through
    tensor.cast (some contractions read the dynamically typed weight) and
    unit reshapes; a non-zero accumulator (bias broadcast into the init,
    non-zero or -0.0 fills, init arguments, some typed more dynamically than
    the result); weight and activation of different float types;
  * weights as dense hex constants, literal lists, splats, dense_resource
    blobs and function arguments; weights shared by two layers (also one
    square weight read as N x K and as K x N); layers in scf.for and scf.if;
  * non-linear ops (relu, silu, tanh-gelu, bias adds, scaling, residual
    adds, row max/sum reductions, softmax-like max subtraction, reshapes);
  * near-misses that must stay in float: contractions of two computed
    activations, i32 matmuls, contractions reducing over two loops
    (linalg.generic, linalg.batch_reduce_matmul), weights computed at run
    time or sliced out of a bigger constant, dynamic or 3-D argument
    weights; and layers the options skip: K not divisible by the group size
    (remark), fewer weights than min-weights (remark), include/exclude.

Checks per module (the generator knows which layers must be rewritten):
  1. r2q-opt parses it;
  2. r2q-opt --r2q-quantize-linear=<random options> --verify-each exits 0 (no
     signal), its output re-parses, holds one r2q.matmul per expected layer,
     every expected layer is gone and every other contraction is still there
     (each contraction carries a corpus.id attribute), and exactly the
     expected "left in float" remarks are on stderr; without include/exclude
     a second run of the pass changes nothing;
  3. a module without quantizable layer is printed unchanged by the pass;
  4. --r2q-quantize-linear ... --r2q-cpu-pipeline exits 0 (a refined
     quantization of an argument weight must instead fail with its error);
  5. execution modules run under mlir-runner: each quantized layer (one
     function per layer) is compared with the same layer on
     r2q.dequantize(r2q.quantize(W)) with the same scheme (folded by
     --canonicalize, excluded from quantization by its layer name
     "reference"), 1 when max|y - ref| <= 1e-5 * max|ref| on the f32
     accumulator;
  6. malformed or bad inputs (truncated text, wrong types, undefined values,
     bad hex, garbage, unknown ops, NaN/Inf weights, overflowing scales, a
     truncated resource blob, bad options) make r2q-opt exit with 1 and an
     error, never crash.

The corpus once found (and r2q now handles): expand_shape ops with two
dynamic sizes in one group, which crash MLIR 22's expand-strided-metadata
(llvm/llvm-project#186830; r2q-cpu-pipeline lowers them itself), activations
with a dynamic K, size-1 N or K weights through unit reshapes, refined
quantization of constants reaching the pipeline, math.erf and loops yielding
new tensors. It generates all of them.

Prints one line per failure (the module is kept in --out), category counts,
and the summary line
  corpus: N modules, N rewritten layers, N untouched layers, N executed, N failures
Exit code 1 on any failure. Python 3.11 standard library only.
"""

import argparse
import collections
import concurrent.futures
import os
import random
import re
import struct
import subprocess
import sys
import time

# Group sizes the modules are quantized with (multiples of 8, 8..256).
GROUP_SIZES = [8, 16, 24, 32, 40, 48, 56, 64, 96, 128, 256]
# Feature sizes no group size divides.
ODD_DIMS = [3, 5, 12, 20, 36, 44, 50, 60, 90, 100, 12, 100]
HALF = ("bf16", "f16")
ELEM_BYTES = {"f32": 4, "bf16": 2, "f16": 2, "i32": 4}

# ----------------------------------------------------------------------------
# Text helpers
# ----------------------------------------------------------------------------


def ttype(shape, et):
    return "tensor<" + "".join(("?" if d is None else str(d)) + "x" for d in shape) + et + ">"


def amap(ndims, results):
    dims = ", ".join(f"d{i}" for i in range(ndims))
    res = ", ".join(r if isinstance(r, str) else f"d{r}" for r in results)
    return f"affine_map<({dims}) -> ({res})>"


def idmap(rank):
    return amap(rank, list(range(rank)))


def to_bytes(values, et):
    n = len(values)
    if et == "f32":
        return struct.pack(f"<{n}f", *values)
    if et == "f16":
        return struct.pack(f"<{n}e", *values)
    if et == "bf16":
        raw = struct.pack(f"<{n}f", *values)
        out = bytearray(2 * n)
        out[0::2] = raw[2::4]
        out[1::2] = raw[3::4]
        return bytes(out)
    if et == "i32":
        return struct.pack(f"<{n}i", *values)
    raise ValueError(et)


def hex_of(values, et):
    return to_bytes(values, et).hex().upper()


def transpose_list(values, rows, cols):
    """values is rows x cols row-major; returns cols x rows."""
    return [values[r * cols + c] for c in range(cols) for r in range(rows)]


def float_lit(v):
    return f"{v:.7e}"


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------
# IR building
# ----------------------------------------------------------------------------


class Act:
    """An activation value: SSA name, shape (int or None), SSA of dynamic dims."""

    def __init__(self, v, shape, dyn, et, traceable=False):
        self.v, self.shape, self.dyn, self.et, self.traceable = v, list(shape), list(dyn), et, traceable

    @property
    def type(self):
        return ttype(self.shape, self.et)

    @property
    def rank(self):
        return len(self.shape)

    def static(self):
        return all(d is not None for d in self.shape)


class Contraction:
    """One contraction op the generator emitted, with what must happen to it."""

    def __init__(self, cid, func, kind, form=None):
        self.cid = cid
        self.func = func
        self.kind = kind            # "layer" or a near-miss kind, or "reference"
        self.form = form
        self.name = None
        self.n = self.k = 0
        self.weight_kind = None
        self.et = None
        self.expect = None          # rewrite | filter | minw | group | untouched
        self.remark = None


class Module:
    def __init__(self, seed, kind):
        self.seed = seed
        self.kind = kind
        self.funcs = []
        self.resources = {}
        self.contractions = []
        self.weights_total = 0
        self.res_counter = 0
        self.tags = collections.Counter()

    def resource_key(self, n, k, et):
        self.res_counter += 1
        tname = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[et]
        return f"torch_tensor_{n}_{k}_torch.{tname}_{self.res_counter}"

    def text(self, header):
        out = [header]
        for f in self.funcs:
            out.append(f.text())
        if self.resources:
            out.append("{-#\n  dialect_resources: {\n    builtin: {")
            items = list(self.resources.items())
            for i, (key, blob) in enumerate(items):
                comma = "," if i + 1 < len(items) else ""
                out.append(f'      {key}: "{blob}"{comma}')
            out.append("    }\n  }\n#-}")
        return "\n".join(out) + "\n"


class Func:
    def __init__(self, mod, name, private=False):
        self.mod = mod
        self.name = name
        self.args = []
        self.body = []
        self.results = []
        self.n = 0
        self.ncontractions = 0
        self.private = private
        mod.funcs.append(self)

    def fresh(self, p="v"):
        self.n += 1
        return f"%{p}{self.n}"

    def arg(self, ty):
        name = f"%arg{len(self.args)}"
        self.args.append((name, ty))
        return name, len(self.args) - 1

    def emit(self, line):
        self.body.append("  " + line)

    def index(self, i):
        v = self.fresh("c")
        self.emit(f"{v} = arith.constant {i} : index")
        return v

    def dim(self, value, ty, i):
        c = self.index(i)
        v = self.fresh("dim")
        self.emit(f"{v} = tensor.dim {value}, {c} : {ty}")
        return v

    def empty(self, shape, dyn, et):
        v = self.fresh("e")
        ops = ", ".join(d for s, d in zip(shape, dyn) if s is None)
        self.emit(f"{v} = tensor.empty({ops}) : {ttype(shape, et)}")
        return v

    def scalar(self, lit, et):
        v = self.fresh("cst")
        self.emit(f"{v} = arith.constant {lit} : {et}")
        return v

    def fill(self, shape, dyn, et, lit="0.000000e+00"):
        if et == "i32" and lit == "0.000000e+00":
            lit = "0"
        e = self.empty(shape, dyn, et)
        z = self.scalar(lit, et)
        v = self.fresh("fill")
        ty = ttype(shape, et)
        self.emit(f"{v} = linalg.fill ins({z} : {et}) outs({e} : {ty}) -> {ty}")
        return v

    def next_contraction(self, kind, form=None):
        c = Contraction(f"{self.name}.c{self.ncontractions}", self.name, kind, form)
        c.index = self.ncontractions
        self.ncontractions += 1
        self.mod.contractions.append(c)
        return c

    def text(self):
        args = ", ".join(f"{a}: {t}" for a, t in self.args)
        if len(self.results) == 1:
            res = f" -> {self.results[0][1]}"
        elif self.results:
            res = " -> (" + ", ".join(t for _, t in self.results) + ")"
        else:
            res = ""
        vis = "private " if self.private else ""
        if self.private:
            return f"func.func {vis}@{self.name}({', '.join(t for _, t in self.args)}){res}\n"
        lines = [f"func.func @{self.name}({args}){res} {{"]
        lines += self.body
        if self.results:
            lines.append("  return " + ", ".join(v for v, _ in self.results) + " : " +
                         ", ".join(t for _, t in self.results))
        else:
            lines.append("  return")
        lines.append("}\n")
        return "\n".join(lines)


def generic(f, ins, out_shape, out_dyn, out_et, iterators, out_map, body, init=None, attrs=None, loc=""):
    """ins: list of (value, type, elem type, map). body(f, args, out_arg) -> (lines, yielded).
    Returns the result SSA name."""
    if init is None:
        init = f.empty(out_shape, out_dyn, out_et)
    out_ty = ttype(out_shape, out_et)
    maps = ", ".join(m for _, _, _, m in ins) + (", " if ins else "") + out_map
    its = ", ".join(f'"{i}"' for i in iterators)
    extra = "".join(f", {a}" for a in (attrs or []))
    ins_txt = ""
    if ins:
        ins_txt = "ins(" + ", ".join(v for v, _, _, _ in ins) + " : " + ", ".join(t for _, t, _, _ in ins) + ") "
    bargs = [f.fresh("in") for _ in ins]
    oarg = f.fresh("out")
    lines, y = body(f, bargs, oarg)
    v = f.fresh("g")
    f.emit(f"{v} = linalg.generic {{indexing_maps = [{maps}], iterator_types = [{its}]{extra}}} "
           f"{ins_txt}outs({init} : {out_ty}) {{")
    sig = ", ".join(f"{a}: {e}" for a, (_, _, e, _) in zip(bargs, ins))
    f.emit(f"^bb0({sig}{', ' if sig else ''}{oarg}: {out_et}):")
    for line in lines:
        f.emit("  " + line)
    f.emit(f"  linalg.yield {y} : {out_et}")
    f.emit(f"}} -> {out_ty}{loc}")
    return v


def elementwise(f, act, out_et, body, extra_ins=()):
    """Element-wise generic over act (plus extra inputs (value, type, et, map))."""
    r = act.rank
    ins = [(act.v, act.type, act.et, idmap(r))] + list(extra_ins)
    v = generic(f, ins, act.shape, act.dyn, out_et, ["parallel"] * r, idmap(r), body)
    return Act(v, act.shape, act.dyn, out_et)


def convert(f, act, et):
    """extf / truncf generic."""
    if act.et == et:
        return act
    op = "arith.extf" if et == "f32" else "arith.truncf"

    def body(f, a, o):
        t = f.fresh("t")
        return [f"{t} = {op} {a[0]} : {act.et} to {et}"], t

    res = elementwise(f, act, et, body)
    res.traceable = act.traceable and op == "arith.extf"
    return res


def unary_body(kind, et):
    """Body of an element-wise op computing in f32 for half types."""

    def body(f, a, o):
        lines = []
        x = a[0]
        if kind == "relu":
            z = f.fresh("t")
            r = f.fresh("t")
            lines += [f"{z} = arith.constant 0.000000e+00 : {et}", f"{r} = arith.maximumf {x}, {z} : {et}"]
            return lines, r
        if kind == "scale":
            z = f.fresh("t")
            r = f.fresh("t")
            lines += [f"{z} = arith.constant 5.000000e-01 : {et}", f"{r} = arith.mulf {x}, {z} : {et}"]
            return lines, r
        v = x
        if et != "f32":
            v = f.fresh("t")
            lines.append(f"{v} = arith.extf {x} : {et} to f32")
        t = [f.fresh("t") for _ in range(10)]
        if kind == "silu":
            lines += [f"{t[0]} = arith.negf {v} : f32", f"{t[1]} = math.exp {t[0]} : f32",
                      f"{t[2]} = arith.constant 1.000000e+00 : f32", f"{t[3]} = arith.addf {t[1]}, {t[2]} : f32",
                      f"{t[4]} = arith.divf {t[2]}, {t[3]} : f32", f"{t[5]} = arith.mulf {v}, {t[4]} : f32"]
            r = t[5]
        elif kind == "gelu_erf":  # Exact GELU, as Torch-MLIR emits it.
            lines += [f"{t[0]} = arith.constant 0.707106769 : f32", f"{t[1]} = arith.mulf {v}, {t[0]} : f32",
                      f"{t[2]} = math.erf {t[1]} : f32", f"{t[3]} = arith.constant 1.000000e+00 : f32",
                      f"{t[4]} = arith.addf {t[2]}, {t[3]} : f32", f"{t[5]} = arith.mulf {v}, {t[4]} : f32",
                      f"{t[6]} = arith.constant 5.000000e-01 : f32", f"{t[7]} = arith.mulf {t[5]}, {t[6]} : f32"]
            r = t[7]
        elif kind == "gelu":
            lines += [f"{t[0]} = arith.mulf {v}, {v} : f32", f"{t[1]} = arith.mulf {t[0]}, {v} : f32",
                      f"{t[2]} = arith.constant 4.471500e-02 : f32", f"{t[3]} = arith.mulf {t[1]}, {t[2]} : f32",
                      f"{t[4]} = arith.addf {v}, {t[3]} : f32", f"{t[5]} = arith.constant 0.797884583 : f32",
                      f"{t[6]} = arith.mulf {t[4]}, {t[5]} : f32", f"{t[7]} = math.tanh {t[6]} : f32",
                      f"{t[8]} = arith.constant 1.000000e+00 : f32", f"{t[9]} = arith.addf {t[7]}, {t[8]} : f32"]
            u = f.fresh("t")
            h = f.fresh("t")
            r = f.fresh("t")
            lines += [f"{u} = arith.mulf {v}, {t[9]} : f32", f"{h} = arith.constant 5.000000e-01 : f32",
                      f"{r} = arith.mulf {u}, {h} : f32"]
        elif kind == "exp":
            lines += [f"{t[0]} = math.exp {v} : f32"]
            r = t[0]
        else:
            raise ValueError(kind)
        if et != "f32":
            rr = f.fresh("t")
            lines.append(f"{rr} = arith.truncf {r} : f32 to {et}")
            r = rr
        return lines, r

    return body


def binary_body_out(op, et):
    """Combines the input with the accumulator (reductions)."""

    def body(f, a, o):
        r = f.fresh("t")
        return [f"{r} = {op} {a[0]}, {o} : {et}"], r

    return body


def binary_body(op, et):
    def body(f, a, o):
        r = f.fresh("t")
        return [f"{r} = {op} {a[0]}, {a[1]} : {et}"], r

    return body


# ----------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------


class Weight:
    """A 2-D weight: N x K values (row-major), stored N x K or K x N."""

    def __init__(self, n, k, et, kind, orient, values, pattern):
        self.n, self.k, self.et, self.kind, self.orient = n, k, et, kind, orient
        self.values = values  # N x K, None for args in general modules
        self.pattern = pattern
        self.ssa = None
        self.key = None
        self.argno = None

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
        w.ssa, w.argno = f.arg(w.type)
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


# ----------------------------------------------------------------------------
# Linear layers
# ----------------------------------------------------------------------------

FORMS = ["transpose_matmul", "matmul_maps", "generic", "contract", "batch_bcast", "widened",
         "kxn_direct", "weight_left", "generic_left", "cast", "matvec", "vecmat", "bmm_maps"]
# Forms that need a single activation row (decoding): [1, K] or [1, 1, K].
ROW_FORMS = ("matvec", "vecmat")
# Storage orientation each form reads its weight in ("any": chosen at random).
FORM_ORIENT = {"transpose_matmul": "nk", "matmul_maps": "nk", "generic": "any", "contract": "any",
               "batch_bcast": "any", "widened": "nk", "kxn_direct": "kn", "weight_left": "nk",
               "generic_left": "nk", "cast": "any", "matvec": "nk", "vecmat": "kn", "bmm_maps": "kn"}
BIAS_MODES = [None, None, None, "after", "init_bcast", "init_fill", "init_negzero", "init_arg"]


class LayerSpec:
    def __init__(self, rng, form, n, k, weight, bias, name_mode):
        self.form, self.n, self.k, self.w, self.bias, self.name_mode = form, n, k, weight, bias, name_mode
        # Every random choice of the form, drawn up front so that the layer and
        # its reference are built alike.
        self.perm_seed = rng.getrandbits(32)
        self.cast_variant = rng.choice(["roundtrip", "roundtrip_unit", "dynamic_use", "unit_only"])
        self.widen_first = rng.random() < 0.4
        self.bcast_first = rng.random() < 0.3
        self.left_out_nm = rng.random() < 0.5
        self.permute_layouts = rng.random() < 0.35
        self.init_dynamic = rng.random() < 0.3
        self.loc_style = rng.choice(["plain", "plain", "child", "fused", "callsite"])
        self.bcast_op = rng.choice(["linalg.batch_matmul", "linalg.batch_matmul", "generic", "linalg.contract"])
        self.init_value = None
        self.bias_values = act_values(rng, n)
        self.attr_name = None
        self.loc_name = None


def weight_name(f, c, spec):
    """The name r2q-quantize-linear gives the layer (see getLayerName)."""
    if spec.attr_name:
        return spec.attr_name
    if spec.loc_name:
        return spec.loc_name
    w = spec.w
    if w.kind == "resource":
        return w.key
    if w.kind == "arg":
        return f"{f.name}:arg{w.argno}"
    return f"{f.name}:linear{c.index}"


def attr_text(c, spec):
    items = [f'corpus.id = "{c.cid}"']
    if spec is not None and spec.attr_name:
        items.append(f'r2q.layer = "{spec.attr_name}"')
    return "{" + ", ".join(items) + "} "


def near_miss_contraction(f, kind, op, lhs, rhs, out, odyn, et="f32", maps=""):
    """Emits the named linalg contraction `op` of lhs and rhs, (value, type)
    pairs, into a fresh zero accumulator of shape `out`, counted as near-miss
    `kind`; returns the (value, type) of its result."""
    init = f.fill(out, odyn, et)
    c = f.next_contraction(kind)
    y = f.fresh("y")
    out_type = ttype(out, et)
    f.emit(f"{y} = {op} {maps}{attr_text(c, None)}ins({lhs[0]}, {rhs[0]} : {lhs[1]}, {rhs[1]}) "
           f"outs({init} : {out_type}) -> {out_type}")
    return y, out_type


def loc_text(spec):
    """A location naming the layer: plain, with a child location, fused with
    another name after it, or a call site (the first NameLoc names it)."""
    if spec is None or not spec.loc_name:
        return ""
    name = spec.loc_name
    style = getattr(spec, "loc_style", "plain")
    if style == "child":
        return f' loc("{name}"("model.py":{len(name)}:4))'
    if style == "fused":
        return f' loc(fused["{name}", "aten::linear"])'
    if style == "callsite":
        return f' loc(callsite("{name}" at "model.py":7:1))'
    return f' loc("{name}")'



def to_2d(f, act):
    """Collapses a rank-3 activation to rank 2; returns (act2, restore)."""
    if act.rank == 2:
        return act, (lambda y: y)
    b, s, k = act.shape
    m = b * s if b is not None and s is not None else None
    v = f.fresh("flat")
    f.emit(f"{v} = tensor.collapse_shape {act.v} [[0, 1], [2]] : {act.type} into {ttype([m, k], act.et)}")
    dyn = [None, act.dyn[2]]
    if m is None:
        dyn[0] = f.dim(v, ttype([m, k], act.et), 0)
    # Unit reshapes are seen through by r2q-quantize-linear.
    flat = Act(v, [m, k], dyn, act.et, traceable=act.traceable and (b == 1 or s == 1))
    lead_shape, lead_dyn = act.shape[:2], act.dyn[:2]

    def restore(y):
        out_shape = lead_shape + [y.shape[1]]
        sizes = ", ".join(str(d) if d is not None else dd for d, dd in zip(out_shape, lead_dyn + [None]))
        r = f.fresh("unflat")
        f.emit(f"{r} = tensor.expand_shape {y.v} [[0, 1], [2]] output_shape [{sizes}] : {y.type} into "
               f"{ttype(out_shape, y.et)}")
        return Act(r, out_shape, lead_dyn + [None], y.et)

    return flat, restore


def to_3d(f, act):
    """Expands a rank-2 activation to [1, M, K]; returns (act3, restore)."""
    if act.rank == 3:
        return act, (lambda y: y)
    m, k = act.shape
    sizes = f"1, {m if m is not None else act.dyn[0]}, {k if k is not None else act.dyn[1]}"
    v = f.fresh("unit")
    f.emit(f"{v} = tensor.expand_shape {act.v} [[0, 1], [2]] output_shape [{sizes}] : {act.type} into "
           f"{ttype([1, m, k], act.et)}")
    a3 = Act(v, [1, m, k], [None, act.dyn[0], act.dyn[1]], act.et, traceable=act.traceable)

    def restore(y):
        r = f.fresh("ununit")
        out = [m, y.shape[2]]
        f.emit(f"{r} = tensor.collapse_shape {y.v} [[0, 1], [2]] : {y.type} into {ttype(out, y.et)}")
        return Act(r, out, [act.dyn[0], None], y.et)

    return a3, restore


def transpose2(f, value, shape, dyn, et):
    """Transposes a rank-2 value."""
    e = f.empty([shape[1], shape[0]], [dyn[1], dyn[0]], et)
    v = f.fresh("tr")
    f.emit(f"{v} = linalg.transpose ins({value} : {ttype(shape, et)}) outs({e} : {ttype([shape[1], shape[0]], et)}) "
           "permutation = [1, 0]")
    return v


def transpose_nd(f, value, shape, dyn, et, perm):
    """linalg.transpose: result dim i is input dim perm[i]."""
    if list(perm) == list(range(len(shape))):
        return value, list(shape), list(dyn)
    oshape = [shape[p] for p in perm]
    odyn = [dyn[p] for p in perm]
    e = f.empty(oshape, odyn, et)
    v = f.fresh("tr")
    f.emit(f"{v} = linalg.transpose ins({value} : {ttype(shape, et)}) outs({e} : {ttype(oshape, et)}) "
           f"permutation = [{', '.join(map(str, perm))}]")
    return v, oshape, odyn


def make_init(f, spec, shape, dyn, layout=None):
    """The accumulator of a layer: zero fill, or a bias. layout[i] is the
    canonical output dimension ([..., N]) of dimension i. Returns (value, its
    shape): an init argument may be typed more dynamically than the result."""
    r = len(shape)
    if layout is None:
        layout = list(range(r))
    bias_dim = layout.index(r - 1)
    if spec.init_value is not None:
        # The output of another layer: y = x A^T + x B^T.
        return spec.init_value, shape
    mode = spec.bias
    if mode in (None, "after"):
        return f.fill(shape, dyn, "f32"), shape
    if mode == "init_fill":
        return f.fill(shape, dyn, "f32", "2.500000e-01"), shape
    if mode == "init_negzero":
        return f.fill(shape, dyn, "f32", "-0.000000e+00"), shape
    if mode == "init_arg":
        ishape = list(shape)
        if spec.init_dynamic:
            ishape = [None] * r
        v, _ = f.arg(ttype(ishape, "f32"))
        if spec.exec_args is not None:
            # Concrete sizes for @main: the activation's rows, then N, in this layout.
            lead = spec.conc_lead
            if r == 1:
                rows = []
            elif r - 1 == len(lead):
                rows = list(lead)
            elif r - 1 == 1:
                rows = [prod(lead)]
            else:
                rows = [1] + list(lead)
            canonical = rows + [spec.n]
            conc = [canonical[layout[i]] for i in range(r)]
            assert all(s is None or s == c for s, c in zip(shape, conc)), (shape, conc)
            spec.exec_args.append(("init", ishape, conc))
        return v, ishape
    # init_bcast: broadcast a bias vector into the accumulator, as Torch-MLIR does.
    b = f.fresh("bias")
    f.emit(f'{b} = arith.constant dense<"0x{hex_of(spec.bias_values, "f32")}"> : {ttype([spec.n], "f32")}')

    def body(f, a, o):
        return [], a[0]

    return generic(f, [(b, ttype([spec.n], "f32"), "f32", amap(r, [bias_dim]))], shape, dyn, "f32",
                   ["parallel"] * r, idmap(r), body), shape


def recast(f, value, have, want):
    """tensor.cast from the type an init argument gave a result to the one the
    generator tracks."""
    if have == want:
        return value
    v = f.fresh("rc")
    f.emit(f"{v} = tensor.cast {value} : {ttype(have, 'f32')} to {ttype(want, 'f32')}")
    return v


def contraction_body(et_a, et_b, et_c, integer=False):
    def body(f, a, o):
        lines = []
        ops = []
        for x, e in ((a[0], et_a), (a[1], et_b)):
            if e != et_c:
                t = f.fresh("t")
                lines.append(f"{t} = arith.extf {x} : {e} to {et_c}")
                ops.append(t)
            else:
                ops.append(x)
        p, s = f.fresh("t"), f.fresh("t")
        mul, add = ("arith.muli", "arith.addi") if integer else ("arith.mulf", "arith.addf")
        lines += [f"{p} = {mul} {ops[0]}, {ops[1]} : {et_c}", f"{s} = {add} {o}, {p} : {et_c}"]
        return lines, s

    return body


def generic_attrs(c, spec):
    return [f'corpus.id = "{c.cid}"'] + ([f'r2q.layer = "{spec.attr_name}"'] if spec.attr_name else [])


def emit_layer(f, act, spec, c, ref=None):
    """Emits one linear layer on act; returns the f32 accumulator result (in
    act's layout, [..., N]). ref: scheme for a reference layer on
    dequantize(quantize(W)) instead of W."""
    w = spec.w
    n, k = spec.n, spec.k
    if ref is None:
        wv = materialize_weight(f, w)
        wet = w.et
    else:
        if w.kind == "arg" and w.ssa is None:
            w.ssa, w.argno = f.arg(w.type)  # same signature as the layer function
        wv = reference_weight(f, w, ref)
        wet = "f32"
    wshape = w.shape
    attrs, loc = attr_text(c, spec), loc_text(spec)
    form = spec.form
    # Random choices of the form, identical for a layer and its reference.
    prng = random.Random(spec.perm_seed)

    if form in ("transpose_matmul", "matmul_maps", "kxn_direct", "cast", "widened", "weight_left",
                "generic_left") + ROW_FORMS:
        x, restore = to_2d(f, act)
    elif form in ("batch_bcast", "bmm_maps"):
        x, restore = to_3d(f, act)
    else:
        x, restore = act, (lambda y: y)
    if x.shape[-1] is None and x.dyn[-1] is None:
        x.dyn[-1] = f.dim(x.v, x.type, x.rank - 1)
    lead, lead_dyn = x.shape[:-1], x.dyn[:-1]
    out_shape, out_dyn = lead + [n], lead_dyn + [None]
    f32 = "f32"

    def matmul_line(y, op, lhs, lhs_ty, rhs, rhs_ty, init, ishape, maps=""):
        f.emit(f"{y} = {op} {maps}{attrs}ins({lhs}, {rhs} : {lhs_ty}, {rhs_ty}) "
               f"outs({init} : {ttype(ishape, f32)}) -> {ttype(ishape, f32)}{loc}")

    y = f.fresh("y")
    if form in ROW_FORMS:
        # [1, K] -> [K], linalg.matvec (weight on the left) or linalg.vecmat, [N] -> [1, N].
        assert x.shape[0] == 1, x.shape
        xv = f.fresh("row")
        f.emit(f"{xv} = tensor.collapse_shape {x.v} [[0, 1]] : {x.type} into {ttype([x.shape[1]], x.et)}")
        init, ishape = make_init(f, spec, [n], [None])
        if form == "matvec":
            matmul_line(y, "linalg.matvec", wv, ttype(wshape, wet), xv, ttype([x.shape[1]], x.et), init, ishape)
        else:
            matmul_line(y, "linalg.vecmat", xv, ttype([x.shape[1]], x.et), wv, ttype(wshape, wet), init, ishape)
        y = recast(f, y, ishape, [n])
        y2 = f.fresh("col")
        f.emit(f"{y2} = tensor.expand_shape {y} [[0, 1]] output_shape [1, {n}] : {ttype([n], f32)} into "
               f"{ttype([1, n], f32)}")
        y = y2
    elif form == "bmm_maps":
        # linalg.batch_matmul broadcasting the K x N weight through its indexing map.
        init, ishape = make_init(f, spec, out_shape, out_dyn)
        maps = f"indexing_maps = [{amap(4, [0, 1, 3])}, {amap(4, [3, 2])}, {amap(4, [0, 1, 2])}] "
        matmul_line(y, "linalg.batch_matmul", x.v, x.type, wv, ttype(wshape, wet), init, ishape, maps)
        y = recast(f, y, ishape, out_shape)
    elif form == "widened":
        if x.et != f32:
            x = convert(f, x, f32)
        # Weight: transpose then extf, or extf then transpose.
        if spec.widen_first and wet != f32:
            wf = convert(f, Act(wv, wshape, [None, None], wet), f32).v
            wt = transpose2(f, wf, wshape, [None, None], f32)
        else:
            wt = transpose2(f, wv, wshape, [None, None], wet)
            if wet != f32:
                wt = convert(f, Act(wt, [k, n], [None, None], wet), f32).v
        init, ishape = make_init(f, spec, out_shape, out_dyn)
        matmul_line(y, "linalg.matmul", x.v, x.type, wt, ttype([k, n], f32), init, ishape)
        y = recast(f, y, ishape, out_shape)
    elif form == "transpose_matmul":
        wt = transpose2(f, wv, wshape, [None, None], wet)
        init, ishape = make_init(f, spec, out_shape, out_dyn)
        matmul_line(y, "linalg.matmul", x.v, x.type, wt, ttype([k, n], wet), init, ishape)
        y = recast(f, y, ishape, out_shape)
    elif form == "matmul_maps":
        init, ishape = make_init(f, spec, out_shape, out_dyn)
        maps = f"indexing_maps = [{amap(3, [0, 2])}, {amap(3, [1, 2])}, {amap(3, [0, 1])}] "
        matmul_line(y, "linalg.matmul", x.v, x.type, wv, ttype(wshape, wet), init, ishape, maps)
        y = recast(f, y, ishape, out_shape)
    elif form == "kxn_direct":
        init, ishape = make_init(f, spec, out_shape, out_dyn)
        matmul_line(y, "linalg.matmul", x.v, x.type, wv, ttype(wshape, wet), init, ishape)
        y = recast(f, y, ishape, out_shape)
    elif form == "cast":
        cur, cur_shape = wv, list(wshape)
        variant = spec.cast_variant
        if variant in ("roundtrip", "roundtrip_unit", "dynamic_use"):
            dshape = [None if prng.random() < 0.6 else d for d in cur_shape]
            if all(d is not None for d in dshape):
                dshape[prng.randrange(2)] = None
            v = f.fresh("wc")
            f.emit(f"{v} = tensor.cast {cur} : {ttype(cur_shape, wet)} to {ttype(dshape, wet)}")
            cur = v
            if variant == "dynamic_use":
                cur_shape = dshape  # the contraction reads the dynamically typed weight
            else:
                v = f.fresh("wc")
                f.emit(f"{v} = tensor.cast {cur} : {ttype(dshape, wet)} to {ttype(cur_shape, wet)}")
                cur = v
        if variant in ("roundtrip_unit", "unit_only"):
            a, b = cur_shape
            if prng.random() < 0.5:
                e3, assoc = [1, a, b], "[[0, 1], [2]]"
            else:
                e3, assoc = [a, 1, b], "[[0], [1, 2]]"
            v = f.fresh("w3")
            f.emit(f"{v} = tensor.expand_shape {cur} {assoc} output_shape [{', '.join(map(str, e3))}] : "
                   f"{ttype(cur_shape, wet)} into {ttype(e3, wet)}")
            v2 = f.fresh("w2")
            f.emit(f"{v2} = tensor.collapse_shape {v} {assoc} : {ttype(e3, wet)} into {ttype(cur_shape, wet)}")
            cur = v2
        init, ishape = make_init(f, spec, out_shape, out_dyn)
        if w.orient == "nk" and variant == "dynamic_use" and prng.random() < 0.5:
            # Read the dynamically typed N x K weight directly.
            maps = f"indexing_maps = [{amap(3, [0, 2])}, {amap(3, [1, 2])}, {amap(3, [0, 1])}] "
            matmul_line(y, "linalg.matmul", x.v, x.type, cur, ttype(cur_shape, wet), init, ishape, maps)
        else:
            if w.orient == "nk":
                cdyn = [f.dim(cur, ttype(cur_shape, wet), i) if d is None else None for i, d in enumerate(cur_shape)]
                cur = transpose2(f, cur, cur_shape, cdyn, wet)
                cur_shape = [cur_shape[1], cur_shape[0]]
            matmul_line(y, "linalg.matmul", x.v, x.type, cur, ttype(cur_shape, wet), init, ishape)
        y = recast(f, y, ishape, out_shape)
    elif form in ("generic", "contract"):
        r = x.rank
        nl = r + 1  # lead loops, n, k
        logical = list(range(nl))
        prng.shuffle(logical)  # logical loop i is dim logical[i]
        lead_d = logical[:r - 1]
        nd, kd = logical[r - 1], logical[r]
        # The activation and the result may be laid out in any order: the
        # activation is transposed before, the result transposed back after.
        xp = list(range(r))
        yq = list(range(r))
        if spec.permute_layouts:
            prng.shuffle(xp)
            prng.shuffle(yq)
        xv, xshape, xdyn = transpose_nd(f, x.v, x.shape, x.dyn, x.et, xp)
        x_loops = lead_d + [kd]
        y_loops = lead_d + [nd]
        xmap = amap(nl, [x_loops[p] for p in xp])
        wmap = amap(nl, [nd, kd] if w.orient == "nk" else [kd, nd])
        ymap = amap(nl, [y_loops[q] for q in yq])
        yshape = [out_shape[q] for q in yq]
        ydyn = [out_dyn[q] for q in yq]
        iters = ["parallel"] * nl
        iters[kd] = "reduction"
        init, ishape = make_init(f, spec, yshape, ydyn, yq)
        if form == "generic":
            y = generic(f, [(xv, ttype(xshape, x.et), x.et, xmap), (wv, ttype(wshape, wet), wet, wmap)], ishape,
                        ydyn, f32, iters, ymap, contraction_body(x.et, wet, f32), init=init,
                        attrs=generic_attrs(c, spec), loc=loc)
        else:
            f.emit(f"{y} = linalg.contract indexing_maps = [{xmap}, {wmap}, {ymap}] {attrs}"
                   f"ins({xv}, {wv} : {ttype(xshape, x.et)}, {ttype(wshape, wet)}) outs({init} : "
                   f"{ttype(ishape, f32)}) -> {ttype(ishape, f32)}{loc}")
        y = recast(f, y, ishape, yshape)
        inv = [yq.index(i) for i in range(r)]
        y, _, _ = transpose_nd(f, y, yshape, ydyn, f32, inv)
    elif form == "batch_bcast":
        bsz, bdyn = x.shape[0], x.dyn[0]
        if spec.bcast_first:
            eb = f.empty([bsz] + wshape, [bdyn, None, None], wet)
            wb = f.fresh("wb")
            f.emit(f"{wb} = linalg.broadcast ins({wv} : {ttype(wshape, wet)}) outs({eb} : "
                   f"{ttype([bsz] + wshape, wet)}) dimensions = [0]")
            cur = wb
            if w.orient == "nk":
                et_ = f.empty([bsz, k, n], [bdyn, None, None], wet)
                cur = f.fresh("wbt")
                f.emit(f"{cur} = linalg.transpose ins({wb} : {ttype([bsz] + wshape, wet)}) outs({et_} : "
                       f"{ttype([bsz, k, n], wet)}) permutation = [0, 2, 1]")
        else:
            wt = wv if w.orient == "kn" else transpose2(f, wv, wshape, [None, None], wet)
            eb = f.empty([bsz, k, n], [bdyn, None, None], wet)
            cur = f.fresh("wb")
            f.emit(f"{cur} = linalg.broadcast ins({wt} : {ttype([k, n], wet)}) outs({eb} : "
                   f"{ttype([bsz, k, n], wet)}) dimensions = [0]")
        init, ishape = make_init(f, spec, out_shape, out_dyn)
        wbt = ttype([bsz, k, n], wet)
        bmaps = [amap(4, [0, 1, 3]), amap(4, [0, 3, 2]), amap(4, [0, 1, 2])]
        if spec.bcast_op == "generic":
            y = generic(f, [(x.v, x.type, x.et, bmaps[0]), (cur, wbt, wet, bmaps[1])], ishape, out_dyn, f32,
                        ["parallel", "parallel", "parallel", "reduction"], bmaps[2],
                        contraction_body(x.et, wet, f32), init=init, attrs=generic_attrs(c, spec), loc=loc)
        elif spec.bcast_op == "linalg.contract":
            matmul_line(y, "linalg.contract", x.v, x.type, cur, wbt, init, ishape,
                        f"indexing_maps = [{', '.join(bmaps)}] ")
        else:
            matmul_line(y, "linalg.batch_matmul", x.v, x.type, cur, wbt, init, ishape)
        y = recast(f, y, ishape, out_shape)
    elif form == "weight_left":
        m, mdyn = x.shape[0], x.dyn[0]
        xt = transpose2(f, x.v, x.shape, x.dyn, x.et)
        init, ishape = make_init(f, spec, [n, m], [None, mdyn], [1, 0])
        matmul_line(y, "linalg.matmul", wv, ttype(wshape, wet), xt, ttype([x.shape[1], m], x.et), init, ishape)
        y = recast(f, y, ishape, [n, m])
        y = transpose2(f, y, [n, m], [None, mdyn], f32)
    elif form == "generic_left":
        # Weight as operand 0; result [N, M] or [M, N].
        m, mdyn = x.shape[0], x.dyn[0]
        wmap, xmap = amap(3, [0, 2]), amap(3, [1, 2])  # loops (n, m, k)
        ins = [(wv, ttype(wshape, wet), wet, wmap), (x.v, x.type, x.et, xmap)]
        body = contraction_body(wet, x.et, f32)
        iters = ["parallel", "parallel", "reduction"]
        if spec.left_out_nm:
            init, ishape = make_init(f, spec, [n, m], [None, mdyn], [1, 0])
            y = generic(f, ins, ishape, [None, mdyn], f32, iters, amap(3, [0, 1]), body, init=init,
                        attrs=generic_attrs(c, spec), loc=loc)
            y = recast(f, y, ishape, [n, m])
            y = transpose2(f, y, [n, m], [None, mdyn], f32)
        else:
            init, ishape = make_init(f, spec, [m, n], [mdyn, None])
            y = generic(f, ins, ishape, [mdyn, None], f32, iters, amap(3, [1, 0]), body, init=init,
                        attrs=generic_attrs(c, spec), loc=loc)
            y = recast(f, y, ishape, [m, n])
    else:
        raise ValueError(form)

    ya = Act(y, out_shape, out_dyn, f32)
    if spec.bias == "after":
        b = f.fresh("bias")
        f.emit(f'{b} = arith.constant dense<"0x{hex_of(spec.bias_values, "f32")}"> : {ttype([n], "f32")}')
        r = ya.rank
        ya = elementwise(f, ya, f32, binary_body("arith.addf", f32),
                         [(b, ttype([n], "f32"), "f32", amap(r, [r - 1]))])
    return restore(ya)


# ----------------------------------------------------------------------------
# General modules
# ----------------------------------------------------------------------------


class Gen:
    """Generates the functions of one general module."""

    def __init__(self, rng, mod, group, budget):
        self.rng = rng
        self.mod = mod
        self.group = group
        self.budget = budget
        self.specs = []         # (func, contraction, spec) of real layers
        self.in_region = False
        self.name_counter = 0

    def dim(self, allow_odd=True):
        rng, g = self.rng, self.group
        r = rng.random()
        if r < 0.6:
            return g * rng.randint(1, max(1, 256 // g))
        if r < 0.85 or not allow_odd:
            return 8 * rng.randint(1, 32)
        return rng.choice(ODD_DIMS)

    def layer_name(self):
        self.name_counter += 1
        prefix = self.rng.choice(["mlp", "attn", "proj", "head", "blk"])
        role = self.rng.choice(["up", "down", "gate", "q", "k", "v", "o", "fc"])
        return f"{prefix}{self.rng.randint(0, 3)}.{role}{self.name_counter}"

    def make_weight(self, n, k, et, form, kind=None, orient=None):
        rng = self.rng
        if kind is None:
            kind = rng.choice(["hex", "hex", "resource", "resource", "arg", "arg", "splat"])
        if orient is None:
            orient = FORM_ORIENT[form]
            if orient == "any":
                orient = rng.choice(["nk", "kn"])
        pattern = rng.choice(WEIGHT_PATTERNS)
        if kind == "splat":
            values = [rng.choice([0.5, -0.25, 0.125, 0.0])] * (n * k)
            pattern = "splat"
        elif kind == "list" or (kind == "hex" and n * k <= 256 and rng.random() < 0.6):
            kind = "list"
            values = exact(weight_values(rng, n, k, pattern, et), et)
        elif kind == "arg":
            values = None
        else:
            values = weight_values(rng, n, k, pattern, et)
        self.mod.weights_total += n * k
        return Weight(n, k, et, kind, orient, values, pattern)

    def pick_n(self, k):
        for _ in range(8):
            n = self.dim()
            if self.mod.weights_total + n * k <= self.budget:
                return n
        return None

    def ensure_untraceable(self, f, act):
        """A near-miss must not read an activation r2q-quantize-linear could
        take for a weight (a static 2-D function argument, possibly moved)."""
        if act.traceable:
            return elementwise(f, act, act.et, unary_body("relu", act.et))
        return act

    def layer(self, f, act, form=None, n=None, weight=None, init_value=None, keep_f32=False):
        rng = self.rng
        k = act.shape[-1]
        if n is None:
            n = self.pick_n(k)
            if n is None:
                return None
        if form is None:
            form = rng.choice(FORMS)
        if form in ROW_FORMS and not unit_rows(act):
            form = "matmul_maps" if form == "matvec" else "kxn_direct"
        T = act.et
        if weight is None:
            wet = T
            if form == "widened" and T == "f32":
                wet = rng.choice(HALF)
            elif form != "widened" and rng.random() < 0.1:
                # Weight and activation of different float types, no widening op.
                wet = rng.choice([e for e in ("f32", "bf16", "f16") if e != T])
                self.mod.tags["dtype:mixed_weight"] += 1
            weight = self.make_weight(n, k, wet, form)
            weight.in_region = self.in_region
        if rng.random() < 0.06:  # An activation whose K is dynamic.
            v = f.fresh("dynk")
            dshape = act.shape[:-1] + [None]
            f.emit(f"{v} = tensor.cast {act.v} : {act.type} to {ttype(dshape, act.et)}")
            kdim = f.dim(v, ttype(dshape, act.et), len(dshape) - 1)
            act = Act(v, dshape, act.dyn[:-1] + [kdim], act.et, act.traceable)
            self.mod.tags["known_bug:dynamic_k"] += 1
        name_mode = rng.choice(["attr", "attr", "loc", "none", "none"])
        spec = LayerSpec(rng, form, n, k, weight, rng.choice(BIAS_MODES), name_mode)
        spec.exec_args = None
        if init_value is not None:
            spec.init_value = init_value
            spec.bias = None
            spec.permute_layouts = False
        if name_mode == "attr":
            spec.attr_name = self.layer_name()
        elif name_mode == "loc":
            spec.loc_name = self.layer_name()
        if form in ("weight_left", "generic_left") and weight.kind == "arg":
            act = self.ensure_untraceable(f, act)
        c = f.next_contraction("layer", form)
        y = emit_layer(f, act, spec, c)
        c.name = weight_name(f, c, spec)
        c.n, c.k, c.weight_kind, c.et = n, k, weight.kind, T
        c.weight = weight
        c.spec = spec
        self.specs.append((f, c, spec))
        self.mod.tags[f"form:{form}"] += 1
        self.mod.tags[f"weight:{weight.kind}"] += 1
        self.mod.tags[f"orient:{weight.orient}"] += 1
        if spec.bias:
            self.mod.tags[f"bias:{spec.bias}"] += 1
            if spec.bias == "init_arg" and spec.init_dynamic:
                self.mod.tags["bias:init_arg_dynamic_type"] += 1
        if form in ("generic", "contract") and spec.permute_layouts:
            self.mod.tags["form:permuted_layouts"] += 1
        if T != "f32" and not keep_f32:
            y = convert(f, y, T)
        return y

    def nonlinear(self, f, act, history, side):
        rng = self.rng
        kind = rng.choice(["relu", "silu", "gelu", "gelu_erf", "bias", "scale", "residual", "rowmax", "rowsum",
                           "softmaxish"])
        T = act.et
        self.mod.tags[f"op:{kind}"] += 1
        if kind in ("relu", "silu", "gelu", "gelu_erf", "scale"):
            return elementwise(f, act, T, unary_body(kind, T))
        if kind == "bias":
            d = act.shape[-1]
            b = f.fresh("bias")
            f.emit(f'{b} = arith.constant dense<"0x{hex_of(act_values(rng, d), T)}"> : {ttype([d], T)}')
            r = act.rank
            return elementwise(f, act, T, binary_body("arith.addf", T), [(b, ttype([d], T), T, amap(r, [r - 1]))])
        if kind == "residual":
            same = [h for h in history if h.shape == act.shape and h.dyn == act.dyn and h.et == act.et
                    and h.v != act.v]
            if not same:
                return elementwise(f, act, T, unary_body("relu", T))
            other = rng.choice(same)
            return elementwise(f, act, T, binary_body("arith.addf", T), [(other.v, other.type, T, idmap(act.rank))])
        r = act.rank
        red_shape, red_dyn = act.shape[:-1], act.dyn[:-1]
        red_map = amap(r, list(range(r - 1)))
        iters = ["parallel"] * (r - 1) + ["reduction"]
        if kind == "rowsum":
            init = f.fill(red_shape, red_dyn, "f32")
            s = generic(f, [(act.v, act.type, T, idmap(r))], red_shape, red_dyn, "f32", iters, red_map,
                        contraction_like_sum(T), init=init)
            side.append((s, ttype(red_shape, "f32")))
            return act
        # rowmax, softmaxish: x - max(x) (then exp).
        ninf = {"f32": "0xFF800000", "bf16": "0xFF80", "f16": "0xFC00"}[T]
        init = f.fill(red_shape, red_dyn, T, ninf)
        mx = generic(f, [(act.v, act.type, T, idmap(r))], red_shape, red_dyn, T, iters, red_map,
                     binary_body_out("arith.maximumf", T), init=init)
        sub = elementwise(f, act, T, binary_body("arith.subf", T), [(mx, ttype(red_shape, T), T, red_map)])
        if kind == "softmaxish":
            sub = elementwise(f, sub, T, unary_body("exp", T))
        return sub

    def reshape(self, f, act):
        self.mod.tags["op:reshape"] += 1
        if act.rank == 3:
            flat, _ = to_2d(f, act)
            return flat
        m, k = act.shape
        if m is not None and m % 2 == 0 and self.rng.random() < 0.5:
            v = f.fresh("split")
            f.emit(f"{v} = tensor.expand_shape {act.v} [[0, 1], [2]] output_shape [2, {m // 2}, {k}] : "
                   f"{act.type} into {ttype([2, m // 2, k], act.et)}")
            return Act(v, [2, m // 2, k], [None, None, None], act.et)
        a3, _ = to_3d(f, act)
        return a3

    def near_miss(self, f, act, side):
        rng = self.rng
        kind = rng.choice(["act_act", "act_act", "int_matmul", "two_reductions", "computed_weight",
                           "dynamic_weight_arg", "weight_3d_arg", "batch_reduce", "sliced_weight"])
        act = self.ensure_untraceable(f, act)
        T = act.et
        self.mod.tags[f"nearmiss:{kind}"] += 1
        k = act.shape[-1]
        if kind == "act_act":
            a = elementwise(f, act, T, unary_body("relu", T))
            b = elementwise(f, act, T, unary_body(rng.choice(["silu", "scale"]), T))
            if act.rank == 3 and rng.random() < 0.6:
                bsz, s, _ = act.shape
                e = f.empty([bsz, k, s], [act.dyn[0], None, act.dyn[1]], T)
                bt = f.fresh("kt")
                f.emit(f"{bt} = linalg.transpose ins({b.v} : {b.type}) outs({e} : {ttype([bsz, k, s], T)}) "
                       "permutation = [0, 2, 1]")
                side.append(near_miss_contraction(f, kind, "linalg.batch_matmul", (a.v, a.type),
                                                  (bt, ttype([bsz, k, s], T)), [bsz, s, s],
                                                  [act.dyn[0], act.dyn[1], act.dyn[1]]))
            else:
                a, _ = to_2d(f, a)
                b, _ = to_2d(f, b)
                m, mdyn = a.shape[0], a.dyn[0]
                bt = transpose2(f, b.v, b.shape, b.dyn, T)
                side.append(near_miss_contraction(f, kind, "linalg.matmul", (a.v, a.type), (bt, ttype([k, m], T)),
                                                  [m, m], [mdyn, mdyn]))
            return act
        x, _ = to_2d(f, act)
        m, mdyn = x.shape[0], x.dyn[0]
        n2 = rng.choice([4, 8, 16, 24, 32])
        if kind == "int_matmul":
            def body(f, a, o):
                t = f.fresh("t")
                return [f"{t} = arith.fptosi {a[0]} : {T} to i32"], t

            xi = elementwise(f, x, "i32", body)
            wi = f.fresh("wi")
            f.emit(f'{wi} = arith.constant dense<"0x{hex_of([rng.randint(-3, 3) for _ in range(k * n2)], "i32")}"> '
                   f": {ttype([k, n2], 'i32')}")
            side.append(near_miss_contraction(f, kind, "linalg.matmul", (xi.v, xi.type), (wi, ttype([k, n2], "i32")),
                                              [m, n2], [mdyn, None], et="i32"))
            return act
        if kind == "two_reductions":
            # Reuse the weight of an earlier layer with the same K when there is one.
            cands = [(ff, cc, sp) for ff, cc, sp in self.specs if ff is f and sp.k == k and sp.w.et == T
                     and sp.w.orient == "nk" and sp.w.ssa is not None and not getattr(sp.w, "in_region", False)]
            if cands and rng.random() < 0.5:
                w = rng.choice(cands)[2].w
                wv, wn = w.ssa, w.n
                self.mod.tags["nearmiss:two_reductions_shared_weight"] += 1
            else:
                wn = n2
                wv = f.fresh("w")
                f.emit(f'{wv} = arith.constant dense<"0x{hex_of(weight_values(rng, wn, k, "uniform", T), T)}"> : '
                       f"{ttype([wn, k], T)}")
            init = f.fill([m], [mdyn], "f32")
            c = f.next_contraction(kind)
            y = generic(f, [(x.v, x.type, T, amap(3, [0, 2])), (wv, ttype([wn, k], T), T, amap(3, [1, 2]))],
                        [m], [mdyn], "f32", ["parallel", "reduction", "reduction"], amap(3, [0]),
                        contraction_body(T, T, "f32"), init=init, attrs=[f'corpus.id = "{c.cid}"'])
            side.append((y, ttype([m], "f32")))
            return act
        if kind == "computed_weight":
            w = f.fresh("w")
            f.emit(f'{w} = arith.constant dense<"0x{hex_of(weight_values(rng, n2, k, "uniform", T), T)}"> : '
                   f"{ttype([n2, k], T)}")
            ws = elementwise(f, Act(w, [n2, k], [None, None], T), T, unary_body("scale", T))
            wt = transpose2(f, ws.v, [n2, k], [None, None], T)
            side.append(near_miss_contraction(f, kind, "linalg.matmul", (x.v, x.type), (wt, ttype([k, n2], T)),
                                              [m, n2], [mdyn, None]))
            return act
        if kind == "dynamic_weight_arg":
            wshape = rng.choice([[None, k], [None, None]])
            w, _ = f.arg(ttype(wshape, T))
            nd = f.dim(w, ttype(wshape, T), 0)
            maps = f"indexing_maps = [{amap(3, [0, 2])}, {amap(3, [1, 2])}, {amap(3, [0, 1])}] "
            side.append(near_miss_contraction(f, kind, "linalg.matmul", (x.v, x.type), (w, ttype(wshape, T)),
                                              [m, None], [mdyn, nd], maps=maps))
            return act
        if kind == "batch_reduce":
            # Reduces over the batch and K: two reduction loops.
            a3, _ = to_3d(f, act) if act.rank == 2 else (act, None)
            bsz, s = a3.shape[0], a3.shape[1]
            w = f.fresh("w")
            f.emit(f'{w} = arith.constant dense<"0x{hex_of(weight_values(rng, k, n2, "uniform", T), T)}"> : '
                   f"{ttype([k, n2], T)}")
            eb = f.empty([bsz, k, n2], [a3.dyn[0], None, None], T)
            wb = f.fresh("wb")
            f.emit(f"{wb} = linalg.broadcast ins({w} : {ttype([k, n2], T)}) outs({eb} : {ttype([bsz, k, n2], T)}) "
                   "dimensions = [0]")
            side.append(near_miss_contraction(f, kind, "linalg.batch_reduce_matmul", (a3.v, a3.type),
                                              (wb, ttype([bsz, k, n2], T)), [s, n2], [a3.dyn[1], None]))
            return act
        if kind == "sliced_weight":
            # A slice of a fused weight (QKV-like) is not an element move.
            w = f.fresh("w")
            f.emit(f'{w} = arith.constant dense<"0x{hex_of(weight_values(rng, 2 * n2, k, "uniform", T), T)}"> : '
                   f"{ttype([2 * n2, k], T)}")
            ws = f.fresh("ws")
            f.emit(f"{ws} = tensor.extract_slice {w}[{n2}, 0] [{n2}, {k}] [1, 1] : {ttype([2 * n2, k], T)} to "
                   f"{ttype([n2, k], T)}")
            wt = transpose2(f, ws, [n2, k], [None, None], T)
            side.append(near_miss_contraction(f, kind, "linalg.matmul", (x.v, x.type), (wt, ttype([k, n2], T)),
                                              [m, n2], [mdyn, None]))
            return act
        if kind == "weight_3d_arg":
            a3, _ = to_3d(f, act) if act.rank == 2 else (act, None)
            bsz, s = a3.shape[0], a3.shape[1]
            w, _ = f.arg(ttype([bsz, k, n2], T))
            side.append(near_miss_contraction(f, kind, "linalg.batch_matmul", (a3.v, a3.type),
                                              (w, ttype([bsz, k, n2], T)), [bsz, s, n2],
                                              [a3.dyn[0], a3.dyn[1], None]))
            return act
        raise ValueError(kind)

    def mlp(self, f, act):
        """gate/up/down, as in Llama: silu(x Wg^T) * (x Wu^T) then Wd."""
        rng = self.rng
        k = act.shape[-1]
        inter = self.pick_n(k)
        if inter is None or self.mod.weights_total + 2 * inter * k > self.budget:
            return None
        self.mod.tags["block:mlp"] += 1
        T = act.et
        form_g = rng.choice(FORMS)
        gate = self.layer(f, act, form=form_g, n=inter)
        shared = None
        gspec = self.specs[-1][2]
        if rng.random() < 0.3 and gspec.w.et == T:
            # Gate and up share one weight: quantized once, two r2q.matmul.
            shared = gspec.w
            self.mod.tags["weight:shared"] += 1
        if shared is not None:
            fm = rng.choice([fm for fm in FORMS if FORM_ORIENT[fm] in (shared.orient, "any") and fm != "widened"])
            up = self.layer(f, act, form=fm, n=inter, weight=shared)
        else:
            up = self.layer(f, act, n=inter)
        if gate.rank != up.rank:
            # A [?, ?, K] activation comes back 2-D from 2-D forms (see to_2d).
            gate = to_2d(f, gate)[0] if gate.rank == 3 else gate
            up = to_2d(f, up)[0] if up.rank == 3 else up
        h = elementwise(f, gate, T, unary_body("silu", T))
        h = elementwise(f, h, T, binary_body("arith.mulf", T), [(up.v, up.type, T, idmap(up.rank))])
        down = self.layer(f, h, n=k)
        return down

    def region(self, f, act):
        """A layer with N = K inside scf.for (over iter_args) or scf.if."""
        rng = self.rng
        k = act.shape[-1]
        if k is None or (act.rank == 3 and act.shape[0] is None and act.shape[1] is None):
            return None
        if self.mod.weights_total + k * k > self.budget:
            return None
        kind = rng.choice(["for", "if"])
        T = act.et
        if kind == "for":
            lb, ub, st = f.index(0), f.index(rng.randint(1, 3)), f.index(1)
            h = f.fresh("h")
            inner = Act(h, act.shape, act.dyn, T)
        else:
            dyns = [d for d in act.dyn if d is not None]
            cond = f.fresh("cond")
            if dyns:
                z = f.index(1)
                f.emit(f"{cond} = arith.cmpi sgt, {dyns[0]}, {z} : index")
            else:
                f.emit(f"{cond} = arith.constant true")
            inner = act
        start = len(f.body)
        self.in_region = True
        try:
            y = self.layer(f, inner, n=k)
        finally:
            self.in_region = False
        assert y.type == act.type, (y.type, act.type)
        lines = f.body[start:]
        del f.body[start:]
        r = f.fresh(kind)
        if kind == "for":
            iv = f.fresh("iv")
            f.emit(f"{r} = scf.for {iv} = {lb} to {ub} step {st} iter_args({h} = {act.v}) -> ({act.type}) {{")
        else:
            f.emit(f"{r} = scf.if {cond} -> ({act.type}) {{")
        f.body += ["  " + line for line in lines]
        yv = y.v
        if kind == "for" and self.rng.random() < 0.5:
            # Half the loops write the result into the iter_arg's buffer.
            yv = f.fresh("yc")
            f.emit(f"  {yv} = linalg.copy ins({y.v} : {act.type}) outs({h} : {act.type}) -> {act.type}")
        f.emit(f"  scf.yield {yv} : {act.type}")
        if kind == "if":
            f.emit("} else {")
            f.emit(f"  scf.yield {act.v} : {act.type}")
        f.emit("}")
        self.mod.tags[f"block:scf_{kind}"] += 1
        return Act(r, act.shape, act.dyn, T)

    def sum_of_layers(self, f, act):
        """y = x A^T + x B^T: the second layer accumulates into the first one's
        f32 result (a computed, non-zero init)."""
        rng = self.rng
        k = act.shape[-1]
        n = self.pick_n(k) if k is not None else None
        if n is None or self.mod.weights_total + 2 * n * k > self.budget:
            return None
        if act.rank == 2:
            forms = ["transpose_matmul", "matmul_maps", "kxn_direct", "cast", "widened", "generic", "contract"]
        else:
            forms = ["generic", "contract", "batch_bcast", "bmm_maps"]
        y1 = self.layer(f, act, n=n, keep_f32=True)
        if y1.shape != act.shape[:-1] + [n] or y1.dyn[:-1] != act.dyn[:-1]:
            return convert(f, y1, act.et) if act.et != "f32" else y1
        y = self.layer(f, act, form=rng.choice(forms), n=n, init_value=y1.v)
        self.mod.tags["block:sum_of_layers"] += 1
        return y

    def square_shared(self, f, act):
        """One square weight used as N x K by a layer and as K x N by the next."""
        rng = self.rng
        k = act.shape[-1]
        if k is None or self.mod.weights_total + k * k > self.budget:
            return None
        T = act.et
        w = self.make_weight(k, k, T, "transpose_matmul", orient="nk")
        form1 = rng.choice(["transpose_matmul", "matmul_maps", "generic", "contract", "batch_bcast", "weight_left",
                            "generic_left", "cast"])
        y1 = self.layer(f, act, form=form1, n=k, weight=w)
        h = elementwise(f, y1, T, unary_body("relu", T))
        wt = Weight(k, k, T, w.kind, "kn", transpose_list(w.values, k, k) if w.values is not None else None,
                    w.pattern)
        wt.ssa, wt.key, wt.argno = w.ssa, w.key, w.argno
        form2 = rng.choice(["kxn_direct", "generic", "contract", "batch_bcast", "cast"])
        self.mod.tags["block:square_weight_both_orientations"] += 1
        return self.layer(f, h, form=form2, n=k, weight=wt)

    def function(self, name, T):
        rng = self.rng
        f = Func(self.mod, name)
        rank = rng.choice([2, 2, 3])
        k0 = self.dim()
        if rank == 2:
            lead = [rng.choice([None, None, 1, 1, 2, 3, 4, 7, 8, 16])]
        else:
            lead = [rng.choice([None, 1, 2, 3]), rng.choice([None, None, 1, 5, 8])]
        shape = lead + [k0]
        x, _ = f.arg(ttype(shape, T))
        dyn = [f.dim(x, ttype(shape, T), i) if d is None else None for i, d in enumerate(shape)]
        act = Act(x, shape, dyn, T, traceable=True)
        self.mod.tags[f"dtype:{T}"] += 1
        self.mod.tags["shape:dynamic" if any(d is None for d in shape) else "shape:static"] += 1
        self.mod.tags[f"rank:{rank}"] += 1
        history = [act]
        side = []
        nblocks = rng.randint(1, 7)
        for _ in range(nblocks):
            r = rng.random()
            new = None
            if r < 0.40:
                new = self.layer(f, act)
            elif r < 0.46:
                new = self.mlp(f, act)
            elif r < 0.49:
                new = self.region(f, act)
            elif r < 0.52:
                new = self.square_shared(f, act)
            elif r < 0.55:
                new = self.sum_of_layers(f, act)
            elif r < 0.75:
                new = self.nonlinear(f, act, history, side)
            elif r < 0.9:
                new = self.near_miss(f, act, side)
            else:
                new = self.reshape(f, act)
            if new is not None:
                act = new
                history.append(act)
        f.results = [(act.v, act.type)] + side
        return f


def unit_rows(act):
    return all(d == 1 for d in act.shape[:-1])


def contraction_like_sum(T):
    def body(f, a, o):
        lines = []
        v = a[0]
        if T != "f32":
            v = f.fresh("t")
            lines.append(f"{v} = arith.extf {a[0]} : {T} to f32")
        s = f.fresh("t")
        lines.append(f"{s} = arith.addf {o}, {v} : f32")
        return lines, s

    return body


# ----------------------------------------------------------------------------
# Options and expectations
# ----------------------------------------------------------------------------


class Options:
    def __init__(self):
        self.group = 128
        self.planes = 2
        self.method = "greedy"
        self.scale = "f16"
        self.minw = 0
        self.include = []
        self.exclude = []
        self.stats = False
        self.ragged = True
        self.parts = []

    def text(self):
        return " ".join(self.parts)

    def scheme(self):
        return (self.group, self.planes, self.method, self.scale)


def choose_options(rng, group, layers, exec_mode=False):
    o = Options()
    o.group = group
    if group != 128 or rng.random() < 0.8:
        o.parts.append(f"group-size={group}")
    if rng.random() < 0.7:
        o.planes = rng.randint(1, 4)
        o.parts.append(f"planes={o.planes}")
    if rng.random() < 0.6:
        o.method = rng.choice(["greedy", "refined"])
        o.parts.append(f"method={o.method}")
    if rng.random() < 0.6:
        o.scale = rng.choice(["f32", "f16", "bf16"])
        o.parts.append(f"scale-type={o.scale}")
    if exec_mode:
        o.exclude = ["^reference$"]
        o.parts.append("exclude=^reference$")
        return o
    if layers and rng.random() < 0.2:
        sizes = sorted(c.n * c.k for c in layers)
        o.minw = sizes[rng.randrange(len(sizes))] + rng.choice([0, 1])
        o.parts.append(f"min-weights={o.minw}")
    names = [c.name for c in layers]
    if names and rng.random() < 0.12:
        o.include = [regex_for(rng, rng.choice(names)) for _ in range(rng.randint(1, 2))]
        o.parts.append("include=" + ",".join(o.include))
    if names and rng.random() < 0.12:
        o.exclude = [regex_for(rng, rng.choice(names)) for _ in range(rng.randint(1, 2))]
        o.parts.append("exclude=" + ",".join(o.exclude))
    if rng.random() < 0.1:
        o.stats = True
        o.parts.append("stats=true")
    if rng.random() < 0.3:
        o.ragged = False
        o.parts.append("ragged-groups=false")
    return o


def regex_for(rng, name):
    esc = re.sub(r"([.^$|()\[\]*+?{}\\])", r"\\\1", name)
    r = rng.random()
    if r < 0.4:
        return "^" + esc + "$"
    if r < 0.7:
        head = name.split(".")[0] if "." in name else name.split(":")[0]
        return "^" + re.sub(r"([.^$|()\[\]*+?{}\\])", r"\\\1", head)
    parts = re.split(r"[.:]", name)
    return re.sub(r"\d+$", "", parts[-1]) or parts[-1]


def expect_layer(c, o):
    selected = True
    if o.include and not any(re.search(p, c.name) for p in o.include):
        selected = False
    if any(re.search(p, c.name) for p in o.exclude):
        selected = False
    if not selected:
        c.expect = "filter"
    elif c.n * c.k < o.minw:
        c.expect = "minw"
        c.remark = (f"layer '{c.name}' left in float: {c.n * c.k} weights, fewer than "
                    f"min-weights = {o.minw}")
    elif c.k % o.group and not o.ragged:
        c.expect = "group"
        c.remark = f"layer '{c.name}' left in float: group size {o.group} does not divide K = {c.k}"
    else:
        c.expect = "rewrite"


# ----------------------------------------------------------------------------
# Module kinds
# ----------------------------------------------------------------------------


class Generated:
    def __init__(self, seed, kind, text, options, mod, expect_pipeline_error=None):
        self.seed = seed
        self.kind = kind
        self.text = text
        self.options = options
        self.mod = mod
        self.expect_pipeline_error = expect_pipeline_error
        self.exec_layers = 0


def header(seed, kind, o, mod):
    rewrites = sum(1 for c in mod.contractions if c.expect == "rewrite")
    return (f'// ir_corpus seed={seed} kind={kind} options="{o.text()}" expect-rewritten={rewrites}\n'
            "// Regenerate and check alone: python/scripts/ir_corpus.py --module-seed "
            f"{seed} --kind {kind} ...")


def gen_general(seed, kind):
    rng = random.Random(seed)
    group = rng.choice(GROUP_SIZES)
    mod = Module(seed, kind)
    big = rng.random() < 0.03
    budget = 400_000 if big else 100_000
    if big:
        mod.tags["module:large"] += 1
    g = Gen(rng, mod, group, budget)
    nfuncs = rng.choice([1, 1, 1, 2, 2, 3])
    names = ["forward", "block", "mlp_block", "attention", "head", "encoder_layer"]
    rng.shuffle(names)
    for i in range(nfuncs):
        g.function(names[i], rng.choice(["f32", "f32", "bf16", "f16"]))
    if rng.random() < 0.15:
        decl = Func(mod, "external_kernel", private=True)
        decl.args = [("", "tensor<?x64xf32>"), ("", "tensor<64x64xf32>")]
        decl.results = [("", "tensor<?x64xf32>")]
        mod.tags["module:private_declaration"] += 1
    layers = [c for c in mod.contractions if c.kind == "layer"]
    if kind == "untouched" and layers:
        # Make every layer unquantizable through the options.
        o = choose_options(rng, group, [])
        how = rng.choice(["exclude_all", "minw_all", "include_none"])
        if how == "exclude_all" or any(c.k % group == 0 for c in layers) is False:
            o.exclude = ["."]
            o.parts.append("exclude=.")
        elif how == "minw_all":
            o.minw = max(c.n * c.k for c in layers) + 1
            o.parts.append(f"min-weights={o.minw}")
        else:
            o.include = ["^no_such_layer$"]
            o.parts.append("include=^no_such_layer$")
    else:
        o = choose_options(rng, group, layers)
    for c in mod.contractions:
        if c.kind == "layer":
            expect_layer(c, o)
        else:
            c.expect = "untouched"
    # A refined quantization of an argument weight has no lowering.
    err = None
    if o.method == "refined" and any(c.expect == "rewrite" and c.weight_kind == "arg" for c in mod.contractions):
        err = "with method = refined cannot run on a weight only"
    text = mod.text(header(seed, kind, o, mod))
    return Generated(seed, kind, text, o, mod, err)


def gen_exec(seed):
    """Layers compared with their float reference under mlir-runner. Each
    entry is one function: a single layer, a square weight read as N x K by a
    layer and as K x N by the next (quantized twice, once per orientation),
    or two layers of different forms sharing one weight, the second
    accumulating into the first (quantized once)."""
    rng = random.Random(seed)
    group = rng.choice([8, 16, 24, 32, 40, 48, 64, 96, 128, 256])
    mod = Module(seed, "exec")
    o = choose_options(rng, group, [], exec_mode=True)
    nlayers = rng.choice([1, 1, 2, 3])
    entries = []
    for j in range(nlayers):
        e = {}
        e["T"] = T = rng.choice(["f32", "f32", "bf16", "f16"])
        r = rng.random()
        e["variant"] = variant = "square_pair" if r < 0.15 else "shared_sum" if r < 0.3 else "single"
        if variant == "square_pair":
            form = rng.choice(["transpose_matmul", "matmul_maps", "generic", "contract", "batch_bcast", "weight_left",
                               "generic_left", "cast", "widened"])
        else:
            form = rng.choice([fm for fm in FORMS if variant == "single" or fm not in ROW_FORMS])
        k = group * rng.randint(1, max(1, 256 // group))
        n = rng.choice([1, 3, 5, 8, 13, 16, 29, 32, 64, 70, 128])
        if variant == "single" and rng.random() < 0.08:
            # Larger than the 256 KiB tiles the lowering decodes the weight in:
            # several tiles, the last one partial.
            k = group * max(1, rng.randint(300, 1100) // group)
            n = rng.choice([129, 300, 513])
            mod.tags["exec:large_layer"] += 1
        if variant == "square_pair":
            n = k
        wet = T
        if form == "widened" and T == "f32":
            wet = rng.choice(HALF)
        elif form != "widened" and rng.random() < 0.15:
            wet = rng.choice([x for x in ("f32", "bf16", "f16") if x != T])
            mod.tags["exec:mixed_weight_type"] += 1
        wkind = rng.choice(["hex", "hex", "resource", "resource", "arg", "arg", "splat"]) if o.method == "greedy" \
            else rng.choice(["hex", "hex", "resource", "resource", "splat"])
        orient = FORM_ORIENT[form]
        if orient == "any":
            orient = "nk" if variant == "square_pair" else rng.choice(["nk", "kn"])
        pattern = rng.choice(WEIGHT_PATTERNS)
        if wkind == "splat":
            values = [rng.choice([0.5, -0.25, 0.125])] * (n * k)
        elif wkind == "hex" and n * k <= 64:
            wkind = "list"
            values = exact(weight_values(rng, n, k, pattern, wet), wet)
        else:
            values = weight_values(rng, n, k, pattern, wet)
        rank = rng.choice([2, 2, 3]) if form not in ("weight_left", "generic_left") else 2
        if rank == 2:
            static = [rng.choice([1, 2, 3, 4, 5, 17, 33])]
        else:
            static = [rng.choice([1, 2, 3]), rng.choice([1, 2, 3, 7])]
        dynamic = [rng.random() < 0.4 for _ in static]
        if form in ROW_FORMS:
            static, dynamic = [1] * len(static), [False] * len(static)
        if variant != "single" and all(dynamic) and len(dynamic) == 2:
            dynamic[0] = False  # keep the first layer's result in the activation's layout
        left = form in ("weight_left", "generic_left")
        if left and wkind == "arg" and not any(dynamic):
            dynamic[0] = True  # else the activation argument would be the weight
        form2 = None
        if variant == "square_pair":
            form2 = rng.choice(["kxn_direct", "generic", "contract", "batch_bcast", "cast", "bmm_maps"])
        elif variant == "shared_sum":
            cands = (["transpose_matmul", "matmul_maps", "kxn_direct", "cast", "widened", "generic", "contract"]
                     if rank == 2 else ["generic", "contract", "batch_bcast", "bmm_maps"])
            cands = [fm for fm in cands if FORM_ORIENT[fm] in (orient, "any")]
            form2 = rng.choice(cands)
        e.update(form=form, form2=form2, n=n, k=k, wet=wet, wkind=wkind, orient=orient, values=values,
                 static=static, dynamic=dynamic, bias=rng.choice(BIAS_MODES), bias2=rng.choice(BIAS_MODES),
                 pattern=pattern)
        entries.append(e)

    funcs = []
    for j, e in enumerate(entries):
        pair = []
        seeds = [rng.getrandbits(32), rng.getrandbits(32)]
        name_modes = [rng.choice(["attr", "loc", "none"]), rng.choice(["attr", "loc", "none"])]
        T, n, k, variant = e["T"], e["n"], e["k"], e["variant"]
        for ref in (False, True):
            f = Func(mod, f"reference{j}" if ref else f"layer{j}")
            w1 = Weight(n, k, e["wet"], e["wkind"], e["orient"], e["values"], e["pattern"])
            specs = [LayerSpec(random.Random(seeds[0]), e["form"], n, k, w1, e["bias"], name_modes[0])]
            if variant == "square_pair":
                w2 = Weight(k, k, e["wet"], e["wkind"], "kn", transpose_list(e["values"], k, k), e["pattern"])
                specs.append(LayerSpec(random.Random(seeds[1]), e["form2"], k, k, w2, e["bias2"], name_modes[1]))
            elif variant == "shared_sum":
                w2 = Weight(n, k, e["wet"], e["wkind"], e["orient"], e["values"], e["pattern"])
                s2 = LayerSpec(random.Random(seeds[1]), e["form2"], n, k, w2, None, name_modes[1])
                s2.permute_layouts = False
                specs.append(s2)
            exec_args = []
            for i_s, sp in enumerate(specs):
                sp.exec_args = exec_args
                sp.conc_lead = e["static"]
                if ref:
                    sp.attr_name = "reference"
                elif name_modes[i_s] == "attr":
                    sp.attr_name = f"exec.layer{j}_{i_s}"
                elif name_modes[i_s] == "loc":
                    sp.loc_name = f"exec.loc{j}_{i_s}"
            shape = [None if d else st for st, d in zip(e["static"], e["dynamic"])] + [k]
            x, _ = f.arg(ttype(shape, T))
            exec_args.append(("x", shape))
            dyn = [f.dim(x, ttype(shape, T), i) if d is None else None for i, d in enumerate(shape)]
            act = Act(x, shape, dyn, T, traceable=True)
            if e["wkind"] == "arg":
                # The weight is the second argument of both functions.
                w1.ssa, w1.argno = f.arg(w1.type)
                exec_args.append(("w", w1.shape))
                for sp in specs[1:]:
                    sp.w.ssa, sp.w.argno = w1.ssa, w1.argno
            scheme = o.scheme() if ref else None
            done = []
            c = f.next_contraction("reference" if ref else "layer", e["form"])
            y = emit_layer(f, act, specs[0], c, ref=scheme)
            done.append((c, specs[0]))
            if variant == "square_pair":
                c = f.next_contraction("reference" if ref else "layer", e["form2"])
                y = emit_layer(f, y, specs[1], c, ref=scheme)
                done.append((c, specs[1]))
            elif variant == "shared_sum":
                specs[1].init_value = y.v
                c = f.next_contraction("reference" if ref else "layer", e["form2"])
                y = emit_layer(f, act, specs[1], c, ref=scheme)
                done.append((c, specs[1]))
            f.results = [(y.v, y.type)]
            for c, sp in done:
                if not ref:
                    c.name = weight_name(f, c, sp)
                    c.n, c.k, c.weight_kind, c.et = sp.n, sp.k, sp.w.kind, T
                    c.entry = j
                    expect_layer(c, o)
                    mod.tags[f"exec_form:{c.form}"] += 1
                    mod.tags[f"exec_dtype:{T}"] += 1
                    mod.tags[f"exec_weight:{sp.w.kind}"] += 1
                else:
                    c.expect = "untouched"
                    c.name = "reference"
            if not ref and variant != "single":
                mod.tags[f"exec:{variant}"] += 1
            pair.append((f, y, specs[0]))
        funcs.append(pair)

    # @close_j and @main.
    mainf = Func(mod, "main")
    oks, errs = [], []
    for j, pair in enumerate(funcs):
        (lf, ly, lspec), (rf, ry, rspec) = pair
        T, n, k, static = entries[j]["T"], entries[j]["n"], entries[j]["k"], entries[j]["static"]
        # close_j
        cf = Func(mod, f"close{j}")
        ya, _ = cf.arg(ly.type)
        ra, _ = cf.arg(ly.type)
        r = ly.rank
        e0 = cf.fill([], [], "f32")
        e1 = cf.fill([], [], "f32")
        errv, magv = cf.fresh("err"), cf.fresh("mag")
        a0, a1, a2, a3 = cf.fresh("a"), cf.fresh("b"), cf.fresh("e"), cf.fresh("g")
        t = [cf.fresh("t") for _ in range(6)]
        reds = ", ".join(['"reduction"'] * r)
        cf.emit(f"{errv}, {magv} = linalg.generic {{indexing_maps = [{idmap(r)}, {idmap(r)}, {amap(r, [])}, "
                f"{amap(r, [])}], iterator_types = [{reds}]}} "
                f"ins({ya}, {ra} : {ly.type}, {ly.type}) outs({e0}, {e1} : tensor<f32>, tensor<f32>) {{")
        cf.emit(f"^bb0({a0}: f32, {a1}: f32, {a2}: f32, {a3}: f32):")
        cf.emit(f"  {t[0]} = arith.subf {a0}, {a1} : f32")
        cf.emit(f"  {t[1]} = math.absf {t[0]} : f32")
        cf.emit(f"  {t[2]} = math.absf {a1} : f32")
        cf.emit(f"  {t[3]} = arith.maximumf {a2}, {t[1]} : f32")
        cf.emit(f"  {t[4]} = arith.maximumf {a3}, {t[2]} : f32")
        cf.emit(f"  linalg.yield {t[3]}, {t[4]} : f32, f32")
        cf.emit("} -> (tensor<f32>, tensor<f32>)")
        ev, gv = cf.fresh("ev"), cf.fresh("gv")
        cf.emit(f"{ev} = tensor.extract {errv}[] : tensor<f32>")
        cf.emit(f"{gv} = tensor.extract {magv}[] : tensor<f32>")
        tol = cf.scalar("1.000000e-05", "f32")
        bound, ok, oki = cf.fresh("bound"), cf.fresh("ok"), cf.fresh("oki")
        cf.emit(f"{bound} = arith.mulf {gv}, {tol} : f32")
        cf.emit(f"{ok} = arith.cmpf ole, {ev}, {bound} : f32")
        cf.emit(f"{oki} = arith.extui {ok} : i1 to i32")
        cf.results = [(oki, "i32"), (ev, "f32"), (gv, "f32")]
        # main: arguments as constants.
        args, tys = [], []
        lspec.exec_args_conc = {i: e[2] for i, e in enumerate(lspec.exec_args) if len(e) > 2}
        for what, shape, *_ in lspec.exec_args:
            if what == "x":
                conc = list(static) + [k]
                vals = act_values(rng, prod(conc))
                et = T
            elif what == "w":
                w = lspec.w
                conc = w.shape
                vals = w.stored_values()
                et = w.et
            else:  # init
                conc = lspec.exec_args_conc[len(args)]
                vals = act_values(rng, prod(conc))
                et = "f32"
            v = mainf.fresh("in")
            mainf.emit(f'{v} = arith.constant dense<"0x{hex_of(vals, et)}"> : {ttype(conc, et)}')
            if any(d is None for d in shape):
                vc = mainf.fresh("dyn")
                mainf.emit(f"{vc} = tensor.cast {v} : {ttype(conc, et)} to {ttype(shape, et)}")
                v = vc
            args.append(v)
            tys.append(ttype(shape, et))
        yv, rv = mainf.fresh("y"), mainf.fresh("r")
        call_ty = f"({', '.join(tys)}) -> {ly.type}"
        mainf.emit(f"{yv} = call @{lf.name}({', '.join(args)}) : {call_ty}")
        mainf.emit(f"{rv} = call @{rf.name}({', '.join(args)}) : {call_ty}")
        okv, ev2, gv2 = mainf.fresh("ok"), mainf.fresh("err"), mainf.fresh("mag")
        mainf.emit(f"{okv}, {ev2}, {gv2} = call @close{j}({yv}, {rv}) : ({ly.type}, {ly.type}) -> (i32, f32, f32)")
        oks.append(okv)
        errs += [ev2, gv2]
    flags, fu = mainf.fresh("flags"), mainf.fresh("fu")
    mainf.emit(f"{flags} = tensor.from_elements {', '.join(oks)} : tensor<{len(oks)}xi32>")
    mainf.emit(f"{fu} = tensor.cast {flags} : tensor<{len(oks)}xi32> to tensor<*xi32>")
    mainf.emit(f"call @printMemrefI32({fu}) : (tensor<*xi32>) -> ()")
    ev, eu = mainf.fresh("errs"), mainf.fresh("eu")
    mainf.emit(f"{ev} = tensor.from_elements {', '.join(errs)} : tensor<{len(errs)}xf32>")
    mainf.emit(f"{eu} = tensor.cast {ev} : tensor<{len(errs)}xf32> to tensor<*xf32>")
    mainf.emit(f"call @printMemrefF32({eu}) : (tensor<*xf32>) -> ()")
    p1 = Func(mod, "printMemrefI32", private=True)
    p1.args = [("", "tensor<*xi32>")]
    p2 = Func(mod, "printMemrefF32", private=True)
    p2.args = [("", "tensor<*xf32>")]
    text = mod.text(header(seed, "exec", o, mod))
    g = Generated(seed, "exec", text, o, mod)
    g.exec_layers = sum(1 for c in mod.contractions if c.kind == "layer")
    return g


def prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


# ----------------------------------------------------------------------------
# Bad inputs
# ----------------------------------------------------------------------------

BAD_KINDS = ["truncate", "return_type", "operand_type", "undefined_value", "bad_hex", "garbage", "unknown_op",
             "nan_weight", "scale_overflow", "bad_option", "short_resource"]


def gen_bad(seed, base, kind):
    """A bad input of this kind derived from a generated module (base:
    Generated). Returns (kind, text, pass options, expected stderr substring
    or None) or None when the module has nothing to break that way."""
    rng = random.Random(seed)
    text = base.text
    lines = text.split("\n")
    opts = base.options.text()
    first = next(i for i, l in enumerate(lines) if l.startswith("func.func @") and l.rstrip().endswith("{"))
    end = next(i for i in range(first, len(lines)) if lines[i] == "}")
    body = list(range(first + 1, end))
    if kind == "truncate":
        start = sum(len(l) + 1 for l in lines[:first + 1])
        stop = sum(len(l) + 1 for l in lines[:end])
        cut = rng.randrange(start, stop)
        return kind, text[:cut], opts, None
    if kind == "return_type":
        i = next(i for i in range(first, end) if lines[i].startswith("  return "))
        m = re.search(r"x(f32|bf16|f16|i32)>", lines[i])
        new = {"f32": "f16", "bf16": "f32", "f16": "bf16", "i32": "f32"}[m.group(1)]
        lines[i] = lines[i][:m.start()] + f"x{new}>" + lines[i][m.end():]
        # A type mismatch with the function result or with the value's definition.
        return kind, "\n".join(lines), opts, "error"
    if kind == "operand_type":
        cands = [i for i in body if re.search(r"ins\(%\w+, %\w+ : tensor<", lines[i])]
        if not cands:
            return None
        i = rng.choice(cands)
        m = re.search(r"ins\(%\w+, %\w+ : (tensor<[^>]*>), (tensor<([^>]*)>)\)", lines[i])
        if not m:
            return None
        t2 = m.group(2)
        bad = t2.replace(">", "x3>") if rng.random() < 0.5 else re.sub(r"x(f32|bf16|f16|i32)>", "xf64>", t2)
        lines[i] = lines[i][:m.start(2)] + bad + lines[i][m.end(2):]
        return kind, "\n".join(lines), opts, "error"
    if kind == "undefined_value":
        cands = [i for i in body if re.search(r"ins\(%\w+", lines[i])]
        if not cands:
            return None
        i = rng.choice(cands)
        lines[i] = re.sub(r"ins\(%\w+", "ins(%undefined_value_zz", lines[i], count=1)
        return kind, "\n".join(lines), opts, "undeclared SSA value"
    if kind == "bad_hex":
        cands = [i for i, l in enumerate(lines) if 'dense<"0x' in l]
        if not cands:
            return None
        i = rng.choice(cands)
        lines[i] = re.sub(r'dense<"0x([0-9A-F]{2})', r'dense<"0x', lines[i], count=1)
        return kind, "\n".join(lines), opts, "hex data size is invalid"
    if kind == "garbage":
        i = rng.choice(body)
        junk = rng.choice(["@@@", "}", "%v = ", "linalg.matmul ins(", "\"unterminated", "tensor<4x"])
        lines.insert(i, "  " + junk)
        return kind, "\n".join(lines), opts, "error"
    if kind == "unknown_op":
        cands = [i for i in body if re.search(r"= (linalg\.(matmul|generic|transpose|fill)|tensor\.empty)", lines[i])]
        if not cands:
            return None
        i = rng.choice(cands)
        lines[i] = re.sub(r"= (linalg\.\w+|tensor\.empty)", lambda m: "= " + m.group(1) + "_zz", lines[i], count=1)
        return kind, "\n".join(lines), opts, "error"
    if kind == "bad_option":
        bad = rng.choice(["group-size=12", "group-size=0", "planes=0", "planes=5", "method=fancy",
                          "scale-type=f8", "include=[", "grop-size=64"])
        return kind, text, bad, "error"
    if kind in ("nan_weight", "scale_overflow", "short_resource"):
        return gen_bad_weight(rng, kind)
    raise ValueError(kind)


def gen_bad_weight(rng, kind):
    """A single-layer module whose constant weight cannot be quantized."""
    mod = Module(0, "bad")
    group = rng.choice([8, 16, 32, 64])
    form = rng.choice([fm for fm in FORMS])
    k = group * rng.randint(1, 4)
    n = rng.randint(1, 12)
    T = rng.choice(["f32", "bf16"])
    wet = T if not (form == "widened" and T == "f32") else "bf16"
    wkind = "resource" if kind == "short_resource" else rng.choice(["hex", "resource"])
    orient = FORM_ORIENT[form]
    if orient == "any":
        orient = rng.choice(["nk", "kn"])
    values = weight_values(rng, n, k, "uniform", wet)
    scale = "f16"
    detail = None
    if kind == "nan_weight":
        row, col = rng.randrange(n), rng.randrange(k)
        what = rng.choice(["NaN", "+Inf", "-Inf"])
        values[row * k + col] = {"NaN": float("nan"), "+Inf": float("inf"), "-Inf": float("-inf")}[what]
        detail = (row, col, what)
        scale = rng.choice(["f32", "f16", "bf16"])
    elif kind == "scale_overflow":
        values = [1.0e6 * (1 if rng.random() < 0.5 else -1) for _ in values]
    f = Func(mod, "layer")
    w = Weight(n, k, wet, wkind, orient, values, "bad")
    spec = LayerSpec(rng, form, n, k, w, None, "attr")
    spec.exec_args = None
    spec.attr_name = "bad.layer"
    shape = [1 if form in ROW_FORMS else rng.choice([1, 3, None]), k]
    x, _ = f.arg(ttype(shape, T))
    dyn = [f.dim(x, ttype(shape, T), 0) if shape[0] is None else None, None]
    c = f.next_contraction("layer", form)
    y = emit_layer(f, Act(x, shape, dyn, T), spec, c)
    f.results = [(y.v, y.type)]
    text = mod.text(f"// ir_corpus bad input: {kind}")
    opts = f"group-size={group} scale-type={scale}"
    if kind == "nan_weight":
        row, col, what = detail
        expect = f"layer 'bad.layer': weight at row {row}, column {col} is {what}"
    elif kind == "scale_overflow":
        expect = "layer 'bad.layer': a scale of row 0, group 0 overflows f16"
    else:
        # Cut the blob to half its data.
        key = w.key
        blob = mod.resources[key]
        cut = 10 + ((len(blob) - 10) // 2 // 4) * 4
        text = text.replace(blob, blob[:cut])
        expect = "error"
    return kind, text, opts, expect


# ----------------------------------------------------------------------------
# Checking
# ----------------------------------------------------------------------------

CRASH_MARKERS = ("Stack dump", "PLEASE submit a bug report", "Assertion", "LLVM ERROR", "UNREACHABLE",
                 "Segmentation fault", "AddressSanitizer")


class Checker:
    def __init__(self, args):
        self.args = args
        self.r2q = args.r2q_opt
        self.runner = args.mlir_runner
        libs = args.shared_lib_dir
        self.shared = f"{libs}/libmlir_runner_utils.so,{libs}/libmlir_c_runner_utils.so"

    def run(self, cmd, stdin=None):
        try:
            p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=self.args.timeout)
            return p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            return "timeout", "", f"timed out after {self.args.timeout} s"

    @staticmethod
    def crashed(rc, err):
        if rc == "timeout":
            return "hang (timeout)"
        if rc < 0:
            return f"killed by signal {-rc}"
        if rc >= 128:
            return f"exit code {rc} (signal?)"
        for m in CRASH_MARKERS:
            if m in err:
                return f"crash marker '{m}' on stderr"
        return None

    def quantize_args(self, o, extra=()):
        return [self.r2q, "-", f"--r2q-quantize-linear={o.text()}", *extra]

    def check_module(self, g):
        """Returns (failures, executed)."""
        fails = []
        executed = 0

        def fail(check, msg, stderr=""):
            tail = ""
            if stderr:
                snippet = [l for l in stderr.strip().splitlines() if "error" in l or "Assertion" in l
                           or "LLVM ERROR" in l or "Stack dump" in l] or stderr.strip().splitlines()
                tail = " | " + " / ".join(snippet[:3])[:400]
            fails.append(f"{check}: {msg}{tail}")

        # 1. Parses.
        rc, plain, err = self.run([self.r2q, "-"], g.text)
        why = self.crashed(rc, err)
        if why or rc != 0:
            fail("parse", why or f"r2q-opt exited {rc} on the generated module (generator bug?)", err)
            return fails, executed
        # 2. Quantize.
        rc, out, err = self.run(self.quantize_args(g.options, ["--verify-each"]), g.text)
        why = self.crashed(rc, err)
        if why or rc != 0:
            fail("quantize", why or f"exited {rc}", err)
            return fails, executed
        if "error:" in err:
            fail("quantize", "exit 0 with an error on stderr", err)
        rc2, _, err2 = self.run([self.r2q, "-"], out)
        if self.crashed(rc2, err2) or rc2 != 0:
            fail("reparse", f"the quantized module does not re-parse ({rc2})", err2)
        contractions = g.mod.contractions
        expected = sum(1 for c in contractions if c.expect == "rewrite")
        got = len(re.findall(r"= r2q\.matmul ", out))
        if got != expected:
            fail("count", f"{got} r2q.matmul, expected {expected}")
        for c in contractions:
            present = f'corpus.id = "{c.cid}"' in out
            if c.expect == "rewrite" and present:
                fail("rewrite", f"layer {c.cid} ('{c.name}', {c.form}, {c.weight_kind} weight, {c.n}x{c.k}) "
                                f"left in float")
            elif c.expect != "rewrite" and not present:
                fail("untouched", f"{c.kind} {c.cid} ('{c.name}', expected {c.expect}) was rewritten or lost")
            if c.remark and c.remark not in err:
                fail("remark", f"missing remark \"{c.remark}\"")
        if "left in float" in err:
            n_remarks = err.count("left in float")
            n_expected = sum(1 for c in contractions if c.remark)
            if n_remarks != n_expected:
                fail("remark", f"{n_remarks} 'left in float' remarks, expected {n_expected}")
        # 2b. Running the pass again changes nothing (layer names of the form
        # <function>:linear<i> shift when layers go, so not with filters).
        if not g.options.include and not g.options.exclude:
            rc3, out3, err3 = self.run(self.quantize_args(g.options), out)
            if self.crashed(rc3, err3) or rc3 != 0:
                fail("idempotent", f"second run exited {rc3}", err3)
            elif out3 != out:
                fail("idempotent", "a second r2q-quantize-linear run changed the module")
        # 3. Unchanged when nothing is quantizable.
        if expected == 0 and out != plain:
            fail("unchanged", "a module without quantizable layer was changed by r2q-quantize-linear")
        # 4. Lowers.
        c_iface = "true" if g.seed % 2 and g.kind != "exec" else "false"
        # Execution modules hold r2q.quantize ops of constants (the references):
        # they are folded by --canonicalize, which the pipeline only runs after
        # lowering r2q (a refined one would be rejected, see the report).
        canon = ["--canonicalize"] if g.kind == "exec" else []
        rc, low, err = self.run(self.quantize_args(g.options, canon + [f"--r2q-cpu-pipeline=c-interface={c_iface}"]),
                                g.text)
        why = self.crashed(rc, err)
        if why:
            fail("pipeline", why, err)
        elif g.expect_pipeline_error:
            if rc != 1 or g.expect_pipeline_error not in err:
                fail("pipeline", f"expected error '{g.expect_pipeline_error}', got exit {rc}", err)
        elif rc != 0:
            fail("pipeline", f"exited {rc}", err)
        # 5. Executes.
        if g.kind == "exec" and not fails:
            executed = 1
            rc, res, err = self.run([self.runner, "-e", "main", "-entry-point-result=void",
                                     f"-shared-libs={self.shared}"], low)
            why = self.crashed(rc, err)
            if why or rc != 0:
                fail("execute", why or f"mlir-runner exited {rc}", err)
                return fails, executed
            rows = [l.strip() for l in res.splitlines() if l.strip().startswith("[")]
            if len(rows) < 2:
                fail("execute", f"unexpected output: {res[:300]!r}")
                return fails, executed
            flags = [x.strip() for x in rows[0].strip("[]").split(",")]
            nums = [x.strip() for x in rows[1].strip("[]").split(",")]
            for j, fl in enumerate(flags):
                if fl != "1":
                    err_, mag = nums[2 * j], nums[2 * j + 1]
                    lays = [c for c in contractions if c.kind == "layer" and c.entry == j]
                    what = " then ".join(f"{c.form} ({c.weight_kind} weight, {c.n}x{c.k})" for c in lays)
                    fail("numerics", f"@layer{j}, {lays[0].et}: {what}: max|y - ref| = {err_}, max|ref| = {mag}")
        return fails, executed

    def check_bad(self, kind, text, opts, expect):
        cmd = [self.r2q, "-", f"--r2q-quantize-linear={opts}"]
        rc, out, err = self.run(cmd, text)
        why = self.crashed(rc, err)
        if why:
            return [f"bad-input {kind}: {why}" + (" | " + err.strip().splitlines()[0][:300] if err.strip() else "")]
        if rc != 1:
            return [f"bad-input {kind}: exit {rc}, expected 1 with an error"]
        if "error" not in err:
            return [f"bad-input {kind}: exit 1 without an error message"]
        if expect and expect not in err:
            return [f"bad-input {kind}: expected '{expect}' on stderr, got: {err.strip().splitlines()[0][:300]}"]
        return []


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------


def module_kind(rng, exec_fraction):
    if rng.random() < exec_fraction:
        return "exec"
    return "untouched" if rng.random() < 0.12 else "general"


def generate(seed, kind):
    if kind == "exec":
        return gen_exec(seed)
    return gen_general(seed, kind)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--r2q-opt", default="build/bin/r2q-opt")
    ap.add_argument("--out", required=True)
    ap.add_argument("--execute-fraction", type=float, default=0.2)
    ap.add_argument("--keep", action="store_true", help="keep every module, not only failing ones")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=300, help="seconds per tool invocation")
    ap.add_argument("--mlir-runner", default="/usr/lib/llvm-22/bin/mlir-runner")
    ap.add_argument("--shared-lib-dir", default="/usr/lib/llvm-22/lib")
    ap.add_argument("--module-seed", type=int, help="generate and check only the module of this seed")
    ap.add_argument("--kind", choices=["general", "untouched", "exec"], help="kind for --module-seed")
    ap.add_argument("--bad-every", type=int, default=12, help="one bad input per this many modules")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    checker = Checker(args)
    start = time.time()

    master = random.Random(args.seed)
    plan = []
    if args.module_seed is not None:
        plan.append((args.module_seed, args.kind or "general"))
    else:
        for _ in range(args.count):
            s = master.getrandbits(32)
            plan.append((s, module_kind(random.Random(s ^ 0x5EED), args.execute_fraction)))

    tags = collections.Counter()
    totals = collections.Counter()
    failures = []

    def work(i, seed, kind):
        try:
            g = generate(seed, kind)
        except Exception as e:  # a generator bug
            import traceback
            return i, seed, kind, None, [f"module {i} (--module-seed {seed} --kind {kind}): generator: "
                                         f"{type(e).__name__}: {e} | "
                                         + traceback.format_exc().splitlines()[-3].strip()], 0, []
        path = os.path.join(args.out, f"m{i:04d}_{seed}_{kind}.mlir")
        with open(path, "w") as fh:
            fh.write(g.text)
        fails, executed = checker.check_module(g)
        bad_results = []
        if args.module_seed is None and args.bad_every > 0 and i % args.bad_every == args.bad_every - 1 \
                and kind != "exec":
            bad = None
            try:
                # Kinds in rotation, falling back to ones any module allows.
                first = BAD_KINDS[(i // args.bad_every) % len(BAD_KINDS)]
                for attempt, bkind in enumerate([first, first, "truncate", "garbage"]):
                    bad = gen_bad(seed + attempt, g, bkind)
                    if bad is not None:
                        break
            except Exception as e:  # a generator bug
                bad_results.append(("generator", "-", [f"bad-input generator: {type(e).__name__}: {e}"]))
                bad = None
            if bad is not None:
                bkind, btext, bopts, bexpect = bad
                bpath = os.path.join(args.out, f"bad{i:04d}_{seed}_{bkind}.mlir")
                bf = checker.check_bad(bkind, btext, bopts, bexpect)
                if bf or args.keep:
                    with open(bpath, "w") as fh:
                        fh.write(f"// r2q-opt options: --r2q-quantize-linear=\"{bopts}\"\n" + btext)
                bad_results.append((bkind, bpath, bf))
        if not fails and not args.keep:
            os.remove(path)
        return i, seed, kind, g, [f"{path}: {f}" for f in fails], executed, bad_results

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futs = [pool.submit(work, i, s, k) for i, (s, k) in enumerate(plan)]
        for fut in concurrent.futures.as_completed(futs):
            i, seed, kind, g, fails, executed, bad_results = fut.result()
            totals["modules"] += 1
            totals[f"kind:{kind}"] += 1
            totals["executed"] += executed
            if g is not None:
                tags.update(g.mod.tags)
                for c in g.mod.contractions:
                    if c.kind == "reference":
                        continue
                    if c.expect == "rewrite":
                        totals["rewritten"] += 1
                    else:
                        totals["untouched"] += 1
                        tags[f"expect:{c.expect}" if c.kind == "layer" else f"untouched:{c.kind}"] += 1
                if executed:
                    totals["executed_layers"] += g.exec_layers
                for key in ("group", "planes", "method", "scale"):
                    tags[f"opt:{key}={getattr(g.options, key)}"] += 1
                if g.options.minw:
                    tags["opt:min-weights"] += 1
                if g.options.include:
                    tags["opt:include"] += 1
                if g.options.exclude and kind != "exec":
                    tags["opt:exclude"] += 1
            for bkind, bpath, bf in bad_results:
                totals["bad"] += 1
                tags[f"bad:{bkind}"] += 1
                for x in bf:
                    fails.append(f"{bpath}: {x}")
            for line in fails:
                print("FAIL " + line, flush=True)
            failures += fails

    elapsed = time.time() - start
    groups = collections.defaultdict(list)
    for key, val in sorted(tags.items()):
        cat, _, name = key.partition(":")
        groups[cat].append(f"{name}={val}")
    for cat in sorted(groups):
        print(f"  {cat}: " + ", ".join(groups[cat]))
    print(f"  kinds: " + ", ".join(f"{k.split(':')[1]}={v}" for k, v in sorted(totals.items()) if k.startswith("kind:"))
          + f"; executed layers={totals['executed_layers']}; bad inputs={totals['bad']}; {elapsed:.1f} s")
    print(f"corpus: {totals['modules']} modules, {totals['rewritten']} rewritten layers, "
          f"{totals['untouched']} untouched layers, {totals['executed']} executed, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
