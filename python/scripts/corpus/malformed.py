"""Malformed and bad inputs derived from generated modules: r2q-opt must exit with an
error, never crash."""

import random
import re

from .data import weight_values
from .ir import Act, Func, Module, ttype
from .layers import FORMS, FORM_ORIENT, LayerSpec, ROW_FORMS, emit_layer
from .weights import Weight


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
