"""Execution modules: each quantized layer next to its float reference on
dequantize(quantize(W)), compared under mlir-runner."""

import random

from .data import HALF, WEIGHT_PATTERNS, act_values, exact, weight_values
from .general import Generated, header
from .ir import Act, Func, Module, amap, hex_of, idmap, prod, transpose_list, ttype
from .layers import BIAS_MODES, FORMS, FORM_ORIENT, LayerSpec, ROW_FORMS, emit_layer, weight_name
from .options import choose_options, expect_layer
from .traced import Chain, make_traced
from .weights import Weight, materialize_weight, vanishes_in_f16, weight_arg


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
        elif rng.random() < 0.2:
            # K the group size does not divide: a shorter last group.
            k = group * rng.randint(0, max(0, 256 // group - 1)) + rng.randint(1, group - 1) if group > 8 \
                else rng.choice([3, 5, 12, 20, 100])
            mod.tags["exec:ragged_k"] += 1
        wet = T
        if form == "widened" and T == "f32":
            wet = rng.choice(HALF)
        elif form != "widened" and rng.random() < 0.15:
            wet = rng.choice([x for x in ("f32", "bf16", "f16") if x != T])
            mod.tags["exec:mixed_weight_type"] += 1
        wkind = rng.choice(["hex", "hex", "resource", "resource", "arg", "arg", "splat", "traced", "traced"]) \
            if o.method == "greedy" else rng.choice(["hex", "hex", "resource", "resource", "splat", "traced"])
        if wkind == "traced" and variant == "square_pair":
            wkind = "hex"
        orient = FORM_ORIENT[form]
        if orient == "any":
            orient = "nk" if variant == "square_pair" else rng.choice(["nk", "kn"])
        pattern = rng.choice(WEIGHT_PATTERNS)
        if wkind == "splat":
            values = [rng.choice([0.5, -0.25, 0.125])] * (n * k)
        elif wkind == "hex" and n * k <= 64:
            wkind = "list"
            values = exact(weight_values(rng, n, k, pattern, wet), wet)
        elif wkind == "traced":
            traced = Weight(n, k, wet, "traced", orient, None, pattern)
            traced.chain = Chain(rng, wet, orient)
            make_traced(rng, traced, pattern)
            values = traced.values
            e["chain"] = traced.chain
            mod.tags.update("exec_" + t for t in traced.chain.tags())
        else:
            values = weight_values(rng, n, k, pattern, wet)
        e["mark"] = rng.choice(["attr", "option"])
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
            w1.mark, w1.chain = e["mark"], e.get("chain")
            specs = [LayerSpec(random.Random(seeds[0]), e["form"], n, k, w1, e["bias"], name_modes[0])]
            if variant == "square_pair":
                w2 = Weight(k, k, e["wet"], e["wkind"], "kn", transpose_list(e["values"], k, k), e["pattern"])
                specs.append(LayerSpec(random.Random(seeds[1]), e["form2"], k, k, w2, e["bias2"], name_modes[1]))
            elif variant == "shared_sum":
                w2 = Weight(n, k, e["wet"], e["wkind"], e["orient"], e["values"], e["pattern"])
                if w1.kind == "traced":
                    w2 = w1  # one chain, read by both layers
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
                weight_arg(f, w1)
                exec_args.append(("w", w1.shape))
                for sp in specs[1:]:
                    sp.w.ssa, sp.w.argno, sp.w.mark = w1.ssa, w1.argno, w1.mark
            scheme = o.scheme() if ref else None
            if ref and o.scale == "f16" and vanishes_in_f16(w1):
                scheme = (o.group, o.planes, o.method, "f32")  # what the pass falls back to
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
                    c.weight = sp.w
                    c.entry = j
                    expect_layer(c, o)
                    mod.tags[f"exec_form:{c.form}"] += 1
                    mod.tags[f"exec_dtype:{T}"] += 1
                    mod.tags[f"exec_weight:{sp.w.kind}"] += 1
                else:
                    # Its weight, dequantize(quantize(W)), is no constant the pass evaluates.
                    c.expect = "untouched"
                    c.no_weight = True
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
        na, _ = cf.arg(ly.type)  # the reference on -x: max(|ref(x)|, |ref(-x)|) = |bias| + |x W^T|
        r = ly.rank
        e0 = cf.fill([], [], "f32")
        e1 = cf.fill([], [], "f32")
        errv, magv = cf.fresh("err"), cf.fresh("mag")
        a0, a1, an, a2, a3 = cf.fresh("a"), cf.fresh("b"), cf.fresh("n"), cf.fresh("e"), cf.fresh("g")
        t = [cf.fresh("t") for _ in range(7)]
        reds = ", ".join(['"reduction"'] * r)
        cf.emit(f"{errv}, {magv} = linalg.generic {{indexing_maps = [{idmap(r)}, {idmap(r)}, {idmap(r)}, "
                f"{amap(r, [])}, {amap(r, [])}], iterator_types = [{reds}]}} "
                f"ins({ya}, {ra}, {na} : {ly.type}, {ly.type}, {ly.type}) outs({e0}, {e1} : tensor<f32>, tensor<f32>) "
                "{")
        cf.emit(f"^bb0({a0}: f32, {a1}: f32, {an}: f32, {a2}: f32, {a3}: f32):")
        cf.emit(f"  {t[0]} = arith.subf {a0}, {a1} : f32")
        cf.emit(f"  {t[1]} = math.absf {t[0]} : f32")
        cf.emit(f"  {t[5]} = math.absf {a1} : f32")
        cf.emit(f"  {t[6]} = math.absf {an} : f32")
        cf.emit(f"  {t[2]} = arith.maximumf {t[5]}, {t[6]} : f32")
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
        args, neg_args, tys = [], [], []
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
            v = main_input(mainf, vals, conc, shape, et)
            args.append(v)
            neg_args.append(main_input(mainf, [-x for x in vals], conc, shape, et) if what == "x" else v)
            tys.append(ttype(shape, et))
        yv, rv = mainf.fresh("y"), mainf.fresh("r")
        call_ty = f"({', '.join(tys)}) -> {ly.type}"
        mainf.emit(f"{yv} = call @{lf.name}({', '.join(args)}) : {call_ty}")
        mainf.emit(f"{rv} = call @{rf.name}({', '.join(args)}) : {call_ty}")
        nv = mainf.fresh("rneg")
        mainf.emit(f"{nv} = call @{rf.name}({', '.join(neg_args)}) : {call_ty}")
        okv, ev2, gv2 = mainf.fresh("ok"), mainf.fresh("err"), mainf.fresh("mag")
        mainf.emit(f"{okv}, {ev2}, {gv2} = call @close{j}({yv}, {rv}, {nv}) : ({ly.type}, {ly.type}, {ly.type}) "
                   "-> (i32, f32, f32)")
        oks.append(okv)
        errs += [ev2, gv2]
    chains = [(j, e) for j, e in enumerate(entries) if e.get("chain") is not None]
    for j, e in chains:
        okv, count = check_chain(mod, mainf, j, e)
        oks.append(okv)
        errs += [count, count]
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
    if mod.weight_args:
        o.parts.insert(0, "weight-args=" + ",".join(mod.weight_args))
    text = mod.text(header(seed, "exec", o, mod))
    g = Generated(seed, "exec", text, o, mod)
    g.exec_layers = sum(1 for c in mod.contractions if c.kind == "layer")
    g.exec_chains = [j for j, _ in chains]
    return g


def main_input(mainf, vals, conc, shape, et):
    """A constant argument of @main, cast to the (dynamic) type it is passed as."""
    v = mainf.fresh("in")
    mainf.emit(f'{v} = arith.constant dense<"0x{hex_of(vals, et)}"> : {ttype(conc, et)}')
    if any(d is None for d in shape):
        vc = mainf.fresh("dyn")
        mainf.emit(f"{vc} = tensor.cast {v} : {ttype(conc, et)} to {ttype(shape, et)}")
        v = vc
    return v


def check_chain(mod, mainf, j, e):
    """@chain<j> computes entry j's traced weight with the same ops (no
    contraction: the pass leaves it alone); @main compares it with the values
    the generator computed, exactly. Returns the flag (1: equal) and the
    number of differing elements as f32."""
    w = Weight(e["n"], e["k"], e["wet"], "traced", e["orient"], e["values"], e["pattern"])
    w.chain = e["chain"]
    f = Func(mod, f"chain{j}")
    f.results = [(materialize_weight(f, w), w.type)]
    v, expected = mainf.fresh("chain"), mainf.fresh("expected")
    mainf.emit(f"{v} = call @chain{j}() : () -> {w.type}")
    mainf.emit(f'{expected} = arith.constant dense<"0x{hex_of(w.stored_values(), w.et)}"> : {w.type}')
    zero = mainf.fill([], [], "i32", "0")
    count = mainf.fresh("diff")
    a, b, o, ne, one, s = (mainf.fresh("t") for _ in range(6))
    mainf.emit(f"{count} = linalg.generic {{indexing_maps = [{idmap(2)}, {idmap(2)}, {amap(2, [])}], "
               f'iterator_types = ["reduction", "reduction"]}} ins({v}, {expected} : {w.type}, {w.type}) '
               f"outs({zero} : tensor<i32>) {{")
    mainf.emit(f"^bb0({a}: {w.et}, {b}: {w.et}, {o}: i32):")
    mainf.emit(f"  {ne} = arith.cmpf une, {a}, {b} : {w.et}")
    mainf.emit(f"  {one} = arith.extui {ne} : i1 to i32")
    mainf.emit(f"  {s} = arith.addi {o}, {one} : i32")
    mainf.emit(f"  linalg.yield {s} : i32")
    mainf.emit("} -> tensor<i32>")
    n, same, ok, nf = (mainf.fresh(p) for p in ("n", "same", "ok", "nf"))
    c0 = mainf.scalar("0", "i32")
    mainf.emit(f"{n} = tensor.extract {count}[] : tensor<i32>")
    mainf.emit(f"{same} = arith.cmpi eq, {n}, {c0} : i32")
    mainf.emit(f"{ok} = arith.extui {same} : i1 to i32")
    mainf.emit(f"{nf} = arith.sitofp {n} : i32 to f32")
    mod.tags["exec:traced_chain_checked"] += 1
    return ok, nf
