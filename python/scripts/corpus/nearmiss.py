"""Near-misses: contractions that must stay in float (two activations, x . x^T, integer
matmuls, two reduction loops, weights computed from activations, mutable globals,
argument weights of other shapes)."""

from .data import weight_values
from .ir import Act, amap, elementwise, generic, hex_of, to_2d, to_3d, transpose2, ttype
from .layers import attr_text, contraction_body
from .nonlinear import binary_body, binary_body_out, unary_body

# Near-misses whose contraction has no weight: the pass leaves them in float
# with a "contraction left in float: <reason>" remark.
NO_WEIGHT_KINDS = ("act_act", "activation_weight", "dynamic_weight_arg", "weight_3d_arg", "mutable_global", "x_xt",
                   "attention_scores")
# Near-misses with two reduction loops: upstream's contraction interface
# accepts some of them (depending on unit and static dimensions), and those
# get the remark; the others are no contraction to the pass.
MAYBE_REMARK_KINDS = ("two_reductions", "batch_reduce")


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


class NearMissMixin:
    """Gen's near-misses."""

    def ensure_untraceable(self, f, act):
        """A near-miss must not read an activation r2q-quantize-linear could
        take for a weight (a static 2-D function argument, possibly moved)."""
        if act.traceable and self.rng.random() < 0.5:
            return elementwise(f, act, act.et, unary_body("relu", act.et))
        return act

    def near_miss(self, f, act, side):
        rng = self.rng
        kind = rng.choice(["act_act", "act_act", "int_matmul", "two_reductions", "activation_weight",
                           "dynamic_weight_arg", "weight_3d_arg", "batch_reduce", "mutable_global", "x_xt",
                           "x_xt"])
        if kind == "x_xt":
            return self.x_xt(f, act, side)
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
        if kind == "activation_weight":
            # w[n, k] = c[n, k] * colsum(x)[k]: computed from an activation, no weight.
            init = f.fill([k], [None], T, "0.000000e+00")
            cs = generic(f, [(x.v, x.type, T, amap(2, [0, 1]))], [k], [None], T, ["reduction", "parallel"],
                         amap(2, [1]), binary_body_out("arith.addf", T), init=init)
            w = f.fresh("w")
            f.emit(f'{w} = arith.constant dense<"0x{hex_of(weight_values(rng, n2, k, "uniform", T), T)}"> : '
                   f"{ttype([n2, k], T)}")
            ws = elementwise(f, Act(w, [n2, k], [None, None], T), T, binary_body("arith.mulf", T),
                             [(cs, ttype([k], T), T, amap(2, [1]))])
            wt = transpose2(f, ws.v, [n2, k], [None, None], T)
            side.append(near_miss_contraction(f, kind, "linalg.matmul", (x.v, x.type), (wt, ttype([k, n2], T)),
                                              [m, n2], [mdyn, None]))
            return act
        if kind == "mutable_global":
            # A mutable ml_program.global may change between calls: not a weight.
            name = f"corpus_state_{len(self.mod.globals)}"
            ty = ttype([n2, k], T)
            self.mod.globals.append(f'ml_program.global private mutable @{name}'
                                    f'(dense<"0x{hex_of(weight_values(rng, n2, k, "uniform", T), T)}"> : {ty}) : {ty}')
            w = f.fresh("w")
            f.emit(f"{w} = ml_program.global_load @{name} : {ty}")
            maps = f"indexing_maps = [{amap(3, [0, 2])}, {amap(3, [1, 2])}, {amap(3, [0, 1])}] "
            side.append(near_miss_contraction(f, kind, "linalg.matmul", (x.v, x.type), (w, ty), [m, n2],
                                              [mdyn, None], maps=maps))
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
        if kind == "weight_3d_arg":
            a3, _ = to_3d(f, act) if act.rank == 2 else (act, None)
            bsz, s = a3.shape[0], a3.shape[1]
            w, _ = f.arg(ttype([bsz, k, n2], T))
            side.append(near_miss_contraction(f, kind, "linalg.batch_matmul", (a3.v, a3.type),
                                              (w, ttype([bsz, k, n2], T)), [bsz, s, n2],
                                              [a3.dyn[0], a3.dyn[1], None]))
            return act
        raise ValueError(kind)

    def x_xt(self, f, act, side):
        """x . x^T (a Gram matrix) of an activation, as the raw 2-D function
        argument when there is one: a contraction of two activations."""
        T = act.et
        x, _ = to_2d(f, act)
        m, mdyn, k = x.shape[0], x.dyn[0], x.shape[1]
        self.mod.tags["nearmiss:x_xt" + ("_argument" if x.traceable else "")] += 1
        if self.rng.random() < 0.5:
            maps = f"indexing_maps = [{amap(3, [0, 2])}, {amap(3, [1, 2])}, {amap(3, [0, 1])}] "
            side.append(near_miss_contraction(f, "x_xt", "linalg.matmul", (x.v, x.type), (x.v, x.type), [m, m],
                                              [mdyn, mdyn], maps=maps))
        else:
            xt = transpose2(f, x.v, x.shape, x.dyn, T)
            side.append(near_miss_contraction(f, "x_xt", "linalg.matmul", (x.v, x.type), (xt, ttype([k, m], T)),
                                              [m, m], [mdyn, mdyn]))
        return act
