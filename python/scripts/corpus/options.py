"""Pass options chosen at random, and what they make of each layer (rewrite, filter,
min-weights or group-size remark)."""

import re

from .weights import vanishes_in_f16


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


def choose_options(rng, group, layers, exec_mode=False, weight_args=()):
    o = Options()
    o.group = group
    if weight_args:
        o.parts.append("weight-args=" + ",".join(weight_args))
    if not exec_mode and rng.random() < 0.15:
        # K that the group size does not divide stays in float (the old rule).
        o.ragged = False
        o.parts.append("ragged-groups=false")
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
    """What the options make of layer c. A layer without weight (an argument
    nobody marked) is no layer for the pass: it stays in float with a
    "contraction left in float" remark whatever the options say."""
    if c.weight is not None and not c.weight.is_weight:
        c.expect = "noweight"
        c.no_weight = True
        return
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
        c.f32_fallback = o.scale == "f16" and c.weight is not None and vanishes_in_f16(c.weight)
