"""r2q-tune-group-size on the real model's linear layers.

Writes every linear weight into one MLIR module (one function per layer, the
weight a dense constant, the layer named by `r2q.layer`), runs the pass
through `r2q.run_pipeline` and reads its remarks: per layer the chosen scheme,
bits per weight and relative error, and the totals against uniform group size
128 with 2 planes. The chosen schemes can be saved and used by the
`r2q-tuned:FILE` method of `ppl`.
"""

from __future__ import annotations

import re

import numpy as np

from . import compiled

LAYER_REMARK = re.compile(
    r"layer '(?P<name>[^']+)': group size (?P<group>\d+)(?: \(per-channel\))?, "
    r"(?P<planes>\d) planes, (?P<method>\w+): (?P<bpw>[\d.]+) bits per weight, "
    r"relative error (?P<error>[\d.]+) \(uniform group size 128, 2 planes: "
    r"(?P<uniform_bpw>[\d.]+) bits per weight, relative error (?P<uniform_error>[\d.]+)\)")
TOTAL_REMARK = re.compile(r"r2q-tune-group-size: .*")


def tune(weights: dict[str, np.ndarray], options: str) -> tuple[dict[str, dict], str]:
    """Runs r2q-tune-group-size{options} over the layers; returns per layer
    the remark's fields, and the module's total remark."""
    import r2q  # Built by the project: PYTHONPATH=build/python.

    module = "\n".join(compiled.linear_function(name, w, symbol=f"layer{index}", rows=1)
                       for index, (name, w) in enumerate(weights.items()))
    _, diagnostics = r2q.run_pipeline(module, f"r2q-tune-group-size{{{options}}}", return_diagnostics=True)
    layers, total = {}, ""
    for severity, _, message in diagnostics:
        if severity != "remark":
            continue
        if match := LAYER_REMARK.match(message):
            fields = match.groupdict()
            name = fields.pop("name")
            layers[name] = {key: (value if key == "method" else float(value)) for key, value in fields.items()}
        elif TOTAL_REMARK.match(message):
            total = message
    missing = set(weights) - set(layers)
    if missing:
        raise RuntimeError(f"r2q-tune-group-size reported nothing for {sorted(missing)}")
    return layers, total
