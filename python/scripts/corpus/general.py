"""General modules: 1-3 functions mixing layers, blocks, non-linear ops and near-misses."""

import random

from .blocks import BlockMixin
from .data import GROUP_SIZES, HALF, ODD_DIMS, WEIGHT_PATTERNS, exact, weight_values
from .ir import Act, Func, Module, convert, ttype
from .layers import BIAS_MODES, FORMS, FORM_ORIENT, LayerSpec, ROW_FORMS, emit_layer, unit_rows, weight_name
from .nearmiss import NearMissMixin
from .nonlinear import NonlinearMixin
from .options import choose_options, expect_layer
from .nearmiss import NO_WEIGHT_KINDS
from .traced import Chain, make_traced
from .weights import ARG_MARKS, Weight


class Gen(NonlinearMixin, NearMissMixin, BlockMixin):
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
            kind = rng.choice(["hex", "hex", "resource", "resource", "arg", "arg", "splat", "traced", "traced",
                               "traced"])
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
        elif kind in ("arg", "traced"):
            values = None
        else:
            values = weight_values(rng, n, k, pattern, et)
        self.mod.weights_total += n * k
        w = Weight(n, k, et, kind, orient, values, pattern)
        if kind == "arg":
            w.mark = rng.choice(ARG_MARKS)
            self.mod.tags[f"weight:arg_{w.mark or 'unmarked'}"] += 1
        elif kind == "traced":
            w.chain = Chain(rng, et, orient)
            make_traced(rng, w, pattern)
            self.mod.tags.update(w.chain.tags())
        return w

    def pick_n(self, k):
        for _ in range(8):
            n = self.dim()
            if self.mod.weights_total + n * k <= self.budget:
                return n
        return None

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
        if name_mode == "none" and weight.kind == "traced" and weight.chain.storage != "hex":
            name_mode = "attr"  # how the pass names a traced blob or global is not pinned down here
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
            elif r < 0.58:
                new = self.attention(f, act, side)
            elif r < 0.61:
                new = self.fanout(f, act)
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


class Generated:
    def __init__(self, seed, kind, text, options, mod, expect_pipeline_error=None):
        self.seed = seed
        self.kind = kind
        self.text = text
        self.options = options
        self.mod = mod
        self.expect_pipeline_error = expect_pipeline_error
        self.exec_layers = 0
        self.exec_chains = []      # entries whose traced weight @main checks


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
        o = choose_options(rng, group, [], weight_args=mod.weight_args)
        how = rng.choice(["exclude_all", "minw_all", "include_none"])
        if how == "exclude_all":
            o.exclude = ["."]
            o.parts.append("exclude=.")
        elif how == "minw_all":
            o.minw = max(c.n * c.k for c in layers) + 1
            o.parts.append(f"min-weights={o.minw}")
        else:
            o.include = ["^no_such_layer$"]
            o.parts.append("include=^no_such_layer$")
    else:
        o = choose_options(rng, group, [c for c in layers if c.weight.is_weight], weight_args=mod.weight_args)
    for c in mod.contractions:
        if c.kind == "layer":
            expect_layer(c, o)
        else:
            c.expect = "untouched"
            c.no_weight = c.kind in NO_WEIGHT_KINDS
    mod.tags["expect:rewrite_ragged_k"] += sum(1 for c in layers if c.expect == "rewrite" and c.k % group)
    # A refined quantization of an argument weight has no lowering.
    err = None
    if o.method == "refined" and any(c.expect == "rewrite" and c.weight_kind == "arg" for c in mod.contractions):
        err = "with method = refined cannot run on a weight only"
    text = mod.text(header(seed, kind, o, mod))
    return Generated(seed, kind, text, o, mod, err)
