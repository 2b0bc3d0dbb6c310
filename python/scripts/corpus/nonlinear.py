"""Non-linear ops between layers: element-wise bodies (relu, silu, GELU, exp, scaling),
bias and residual adds, row reductions, softmax-like blocks and reshapes."""

from .data import act_values
from .ir import Act, amap, elementwise, generic, hex_of, idmap, to_2d, to_3d, ttype


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

class NonlinearMixin:
    """Gen's non-linear ops and reshapes."""

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
