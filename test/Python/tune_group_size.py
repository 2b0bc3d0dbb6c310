# r2q-tune-group-size on layers of unequal difficulty (fresh random data):
# under budget-bpw the bits the quantized module stores stay within the
# budget and the total squared error is the least any choice of candidate
# schemes reaches (checked by exhaustive search with r2q.quantize), below
# uniform group size 128; r2q-quantize-linear uses each layer's scheme;
# max-rel-error takes the cheapest scheme meeting the target; importance
# moves bits; calibration statistics make the error activation-aware; the result is deterministic; bad options and files are errors.
# RUN: %python %s

import itertools
import json
import os
import re
import tempfile

import numpy as np
import r2q
from r2q_test_support import fresh_rng, linear_layer_ir

rng = fresh_rng()
heavy = rng.standard_t(3, (48, 256))
# Scales that change every 32 columns: small groups pay off here.
uneven = rng.standard_normal((40, 256)) * np.repeat(np.exp(1.5 * rng.standard_normal((40, 8))), 32, axis=1)
weights = {
    "gauss:linear0": rng.standard_normal((64, 256)),
    "heavy:linear0": heavy,
    "uneven:linear0": uneven,
    "ragged:linear0": rng.standard_normal((24, 192)),  # 128 does not divide K.
}
weights = {name: (0.02 * w).astype(np.float32) for name, w in weights.items()}
module = "\n".join(linear_layer_ir(w, 3, name.split(":")[0]) for name, w in weights.items())
total_weights = sum(w.size for w in weights.values())


def candidates(k):
    sizes = sorted({g for g in (32, 64, 128, 256, 512) if g <= k} | {k})
    return [(g, p) for p in (1, 2, 3, 4) for g in sizes]


def measure(w, group_size, planes):
    q = r2q.quantize(w, group_size=group_size, planes=planes)
    return 8 * q.storage_bytes, float(((r2q.dequantize(q) - w).astype(np.float64) ** 2).sum())


measured = {name: {c: measure(w, *c) for c in candidates(w.shape[1])} for name, w in weights.items()}
uniform_error = sum(measured[name][(128, 2)][1] for name in weights)
remark_pattern = re.compile(r"layer '([^']+)': group size (\d+)(?: \(per-channel\))?, (\d) planes, greedy: "
                            r"([\d.]+) bits per weight, relative error ([\d.]+)")


def tune(options, importance=None):
    """The chosen (group size, planes) per layer, the quantized IR and the
    diagnostics."""
    out, diagnostics = r2q.run_pipeline(module, f"r2q-tune-group-size{{{options}}},r2q-quantize-linear",
                                        return_diagnostics=True)
    chosen = {}
    for severity, _, message in diagnostics:
        if match := remark_pattern.match(message):
            name, group, planes, bpw, error = match.groups()
            chosen[name] = (int(group), int(planes))
            bits, squared = measured[name][chosen[name]]
            assert abs(float(bpw) - bits / weights[name].size) < 1e-3, message
            norm = float((weights[name].astype(np.float64) ** 2).sum())
            assert abs(float(error) - np.sqrt(squared / norm)) < 1e-4, message
    assert sorted(chosen) == sorted(weights), diagnostics
    # r2q-quantize-linear quantized every layer with its own scheme.
    for name, (group, planes) in chosen.items():
        function = name.split(":")[0]
        body = out[out.index(f"func.func @{function}("):]
        n, k = weights[name].shape
        assert re.search(rf"r2q\.matmul %\w+, %\w+, %\w+ group_size {group} : tensor<3x{k}xf32>, "
                         rf"tensor<{planes}x{n}x{(k + 7) // 8}xi8>", body), (name, group, planes)
    return chosen, out, diagnostics


def total(chosen, importance=None):
    importance = importance or {}
    bits = sum(measured[name][c][0] for name, c in chosen.items())
    error = sum(importance.get(name, 1.0) * measured[name][c][1] for name, c in chosen.items())
    return bits, error


def optimum(budget_bits, importance=None):
    importance = importance or {}
    names = list(weights)
    best = np.inf
    for combo in itertools.product(*(measured[name].items() for name in names)):
        bits = sum(b for _, (b, _) in combo)
        if bits <= budget_bits:
            best = min(best, sum(importance.get(name, 1.0) * e for name, (_, (_, e)) in zip(names, combo)))
    return best


for budget in (1.6, 2.25, 3.0):
    chosen, out, _ = tune(f"budget-bpw={budget}")
    bits, error = total(chosen)
    assert bits <= budget * total_weights, (budget, bits / total_weights)
    best = optimum(int(np.floor(budget * total_weights)))
    assert np.isclose(error, best, rtol=1e-9), (budget, error, best)
    if budget == 2.25:
        assert error < uniform_error, (error, uniform_error)
        # Not all layers got the same scheme: the layers differ.
        assert len(set(chosen.values())) > 1, chosen
        assert out == tune("budget-bpw=2.25")[1], "not deterministic"

# Importance moves bits toward the layer that matters.
directory = tempfile.mkdtemp()
path = os.path.join(directory, "importance.json")
with open(path, "w") as f:
    json.dump({"gauss:linear0": 1000.0}, f)
plain, _, _ = tune("budget-bpw=2.25")
weighted, _, _ = tune(f"budget-bpw=2.25 importance={path}")
assert total(weighted)[0] <= 2.25 * total_weights
best = optimum(int(np.floor(2.25 * total_weights)), {"gauss:linear0": 1000.0})
assert np.isclose(total(weighted, {"gauss:linear0": 1000.0})[1], best, rtol=1e-9)
assert measured["gauss:linear0"][weighted["gauss:linear0"]][0] > measured["gauss:linear0"][plain["gauss:linear0"]][0]

# calibration=: candidates quantized with the diagonal of X^T X and scored
# by the error it weighs; a layer the file does not name is scored on its
# weights, with a warning.
diagonals = {name: np.exp(2 * rng.standard_normal(w.shape[1])) for name, w in weights.items()
             if name != "ragged:linear0"}
layer_names = {name: name.split(":")[0] for name in weights}
calibrated_module = module
for name in weights:  # r2q.layer names the layers in the statistics file.
    function = layer_names[name]
    start = calibrated_module.index(f"func.func @{function}(")
    at = calibrated_module.index("linalg.matmul ins", start)
    calibrated_module = (calibrated_module[:at] + f'linalg.matmul {{r2q.layer = "{function}"}} ins'
                         + calibrated_module[at + len("linalg.matmul ins"):])
statistics = tempfile.mkdtemp()
index = {}
for name, diagonal in diagonals.items():
    np.save(os.path.join(statistics, f"{layer_names[name]}.diag.npy"), diagonal)
    np.save(os.path.join(statistics, f"{layer_names[name]}.xtx.npy"), np.diag(diagonal))  # Not read here.
    index[layer_names[name]] = {"xtx": f"{layer_names[name]}.xtx.npy", "diag": f"{layer_names[name]}.diag.npy",
                                "K": weights[name].shape[1], "tokens": 64}
with open(os.path.join(statistics, "index.json"), "w") as f:
    json.dump({"layers": index}, f)
_, diagnostics = r2q.run_pipeline(calibrated_module, f"r2q-tune-group-size{{budget-bpw=2.25 calibration={statistics}}}",
                                  return_diagnostics=True)
assert any(severity == "warning" and "layer 'ragged': no calibration statistics" in message
           for severity, _, message in diagnostics), diagnostics
calibrated_bits = {}
for severity, _, message in diagnostics:
    match = remark_pattern.match(message)
    if not match or match.group(1) == "ragged":
        continue
    name = f"{match.group(1)}:linear0"
    w, d = weights[name], diagonals[name]
    q = r2q.quantize(w, group_size=int(match.group(2)), planes=int(match.group(3)), diagonal=d)
    error = (d * (r2q.dequantize(q).astype(np.float64) - w) ** 2).sum()
    expected = np.sqrt(error / (d * w.astype(np.float64) ** 2).sum())
    assert abs(float(match.group(5)) - expected) < 1e-4, (message, expected)
    calibrated_bits[name] = 8 * q.storage_bytes
assert len(calibrated_bits) == 3, diagnostics

# An error target: per layer the cheapest scheme that meets it.
for target in (0.15, 0.3, 0.6):
    chosen, _, diagnostics = tune(f"max-rel-error={target}")
    for name, w in weights.items():
        norm = float((w.astype(np.float64) ** 2).sum())
        meeting = [(b, e) for b, e in measured[name].values() if np.sqrt(e / norm) <= target]
        bits, error = measured[name][chosen[name]]
        if meeting:
            assert bits == min(meeting)[0] and np.sqrt(error / norm) <= target, (name, target, chosen[name])
        else:
            assert error == min(e for _, e in measured[name].values()), (name, target, chosen[name])
# Out of reach: the most accurate scheme and a warning.
chosen, _, diagnostics = tune("max-rel-error=0.001 planes=1,2")
assert any(severity == "warning" and "no candidate scheme reaches relative error 0.001" in message
           for severity, _, message in diagnostics), diagnostics
for name in weights:
    assert chosen[name][1] == 2, chosen

# Bad options and files.
least_bits = sum(min(b for b, _ in measured[name].values()) for name in weights)
for options, message in (
        ("", "give exactly one of budget-bpw and max-rel-error"),
        ("budget-bpw=2 max-rel-error=0.1", "give exactly one of budget-bpw and max-rel-error"),
        ("budget-bpw=2 methods=fast", "unknown method 'fast' (greedy or refined)"),
        ("budget-bpw=2 planes=5", "planes"),
        ("budget-bpw=2 group-sizes=12", "group size"),
        ("budget-bpw=2 outliers=1.5", "outliers must be a fraction between 0 and 1, not 1.5"),
        ("budget-bpw=0.5", "budget-bpw=0.5 is below what the candidate schemes can store these layers in "
                           f"({least_bits / total_weights:.3f} bits per weight at the least)"),
        (f"budget-bpw=2 importance={directory}/missing.json", f"importance file '{directory}/missing.json'"),
):
    try:
        r2q.run_pipeline(module, f"r2q-tune-group-size{{{options}}}")
    except r2q.CompileError as error:
        assert any(message in text for _, _, text in error.diagnostics), (options, error.diagnostics)
    else:
        raise AssertionError(f"no error for {options!r}")
with open(path, "w") as f:
    json.dump({"gauss:linear0": -1}, f)
try:
    r2q.run_pipeline(module, f"r2q-tune-group-size{{budget-bpw=2 importance={path}}}")
except r2q.CompileError as error:
    assert any("the weight of layer 'gauss:linear0' is not a finite non-negative number" in text
               for _, _, text in error.diagnostics), error.diagnostics
else:
    raise AssertionError("a negative importance was accepted")

# A hand-written r2q.scheme must be a scheme.
bad = module.replace("linalg.matmul ins", 'linalg.matmul {r2q.scheme = 3 : i64} ins', 1)
try:
    r2q.run_pipeline(bad, "r2q-quantize-linear")
except r2q.CompileError as error:
    assert any("'r2q.scheme' must be a #r2q.scheme<...>, not 3 : i64" in text
               for _, _, text in error.diagnostics), error.diagnostics
else:
    raise AssertionError("a bad r2q.scheme was accepted")
print("ok")
