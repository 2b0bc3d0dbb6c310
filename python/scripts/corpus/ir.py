"""MLIR text building: types, affine maps, constants as hex, SSA values, functions, modules,
linalg.generic and element-wise ops, transposes and rank changes of activations."""

import collections
import struct



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
    if et == "i8":  # codes of either signedness, stored as bytes
        return bytes(v & 0xFF for v in values)
    raise ValueError(et)


def hex_of(values, et):
    return to_bytes(values, et).hex().upper()


def transpose_list(values, rows, cols):
    """values is rows x cols row-major; returns cols x rows."""
    return [values[r * cols + c] for c in range(cols) for r in range(rows)]


def float_lit(v):
    return f"{v:.7e}"

def prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p
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
        self.expect = None          # rewrite | filter | minw | group | noweight | untouched
        self.remark = None          # the "layer '<name>' left in float: ..." remark expected
        self.no_weight = False      # a "contraction left in float: ..." remark expected
        self.weight = None
        self.f32_fallback = False   # a rewritten layer that gets f32 scales (with a warning) instead of f16


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
        self.globals = []           # ml_program.global ops, before the functions
        self.weight_args = []       # <function>:arg<i> names for the weight-args option

    def resource_key(self, n, k, et):
        self.res_counter += 1
        tname = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[et]
        return f"torch_tensor_{n}_{k}_torch.{tname}_{self.res_counter}"

    def text(self, header):
        out = [header] + self.globals
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
        self.arg_attrs = {}
        mod.funcs.append(self)

    def fresh(self, p="v"):
        self.n += 1
        return f"%{p}{self.n}"

    def arg(self, ty, attrs=""):
        """A new argument of type ty (with an attribute dictionary such as
        "{r2q.weight}"); returns its SSA name and number."""
        name = f"%arg{len(self.args)}"
        self.args.append((name, ty))
        if attrs:
            self.arg_attrs[len(self.args) - 1] = attrs
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
        args = ", ".join(f"{a}: {t}" + (f" {self.arg_attrs[i]}" if i in self.arg_attrs else "")
                         for i, (a, t) in enumerate(self.args))
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
