"""Linear-layer forms: every contraction form r2q-quantize-linear matches, with its
accumulator (zero, bias, init argument) and the name the pass gives the layer."""

import random

from .data import act_values
from .ir import (Act, amap, convert, elementwise, generic, hex_of, idmap, prod, to_2d, to_3d, transpose2,
                 transpose_nd, ttype)
from .nonlinear import binary_body
from .weights import materialize_weight, reference_weight, weight_arg


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
            weight_arg(f, w)  # same signature as the layer function
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

def unit_rows(act):
    return all(d == 1 for d in act.shape[:-1])
