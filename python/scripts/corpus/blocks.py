"""Blocks of several layers: Llama MLPs, layers in scf.for / scf.if, sums of two layers,
one square weight read in both orientations."""

from .ir import Act, convert, elementwise, idmap, to_2d, transpose2, transpose_list, ttype
from .layers import FORMS, FORM_ORIENT, ROW_FORMS
from .nearmiss import near_miss_contraction
from .nonlinear import binary_body, unary_body
from .weights import Weight


class BlockMixin:
    """Gen's blocks of several layers."""

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
        wt.ssa, wt.key, wt.argno, wt.mark, wt.chain = w.ssa, w.key, w.argno, w.mark, w.chain
        form2 = rng.choice(["kxn_direct", "generic", "contract", "batch_bcast", "cast"])
        self.mod.tags["block:square_weight_both_orientations"] += 1
        return self.layer(f, h, form=form2, n=k, weight=wt)

    def attention(self, f, act, side):
        """Projections q, k, v of x (layers), scores = q k^T and out = scores v
        (two contractions of activations, left in float with a remark), then
        an output projection back to K."""
        rng = self.rng
        kdim = act.shape[-1]
        d = rng.choice([8, 16, 32, 64])
        if kdim is None or self.mod.weights_total + 4 * d * kdim > self.budget:
            return None
        T = act.et
        x, _ = to_2d(f, act)
        forms = [fm for fm in FORMS if fm not in ROW_FORMS]
        q, kk, v = (self.layer(f, x, form=rng.choice(forms), n=d) for _ in range(3))
        m, mdyn = x.shape[0], x.dyn[0]
        kt = transpose2(f, kk.v, kk.shape, kk.dyn, T)
        s, s_type = near_miss_contraction(f, "attention_scores", "linalg.matmul", (q.v, q.type),
                                          (kt, ttype([d, m], T)), [m, m], [mdyn, mdyn])
        scores = convert(f, Act(s, [m, m], [mdyn, mdyn], "f32"), T)
        o, _ = near_miss_contraction(f, "attention_scores", "linalg.matmul", (scores.v, scores.type), (v.v, v.type),
                                     [m, d], [mdyn, None])
        side.append((s, s_type))
        self.mod.tags["block:attention"] += 1
        return self.layer(f, convert(f, Act(o, [m, d], [mdyn, None], "f32"), T), n=kdim)

    def fanout(self, f, act):
        """One weight read by two or three layers of different forms on the
        same activation (quantized once), their results added."""
        rng = self.rng
        kdim = act.shape[-1]
        n = self.pick_n(kdim) if kdim is not None else None
        if n is None:
            return None
        T = act.et
        x, _ = to_2d(f, act)
        w = self.make_weight(n, kdim, T, "generic")
        forms = [fm for fm in FORMS if FORM_ORIENT[fm] in (w.orient, "any") and fm not in ROW_FORMS + ("widened",)]
        ys = [self.layer(f, x, form=rng.choice(forms), n=n, weight=w) for _ in range(rng.randint(2, 3))]
        total = ys[0]
        for y in ys[1:]:
            total = elementwise(f, total, T, binary_body("arith.addf", T), [(y.v, y.type, T, idmap(y.rank))])
        self.mod.tags[f"block:shared_weight_{len(ys)}_layers"] += 1
        return total

