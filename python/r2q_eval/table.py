"""`make eval`: the one table of issue 13 (docs/accuracy.md).

Every row is a method spec of ``ppl`` evaluated on the same evaluation
windows: float, 2-bit round-to-nearest, R2Q greedy/refined at G = 128, G = 64,
per-channel, the ``r2q-tune-group-size`` schemes at 2.25 bits per weight,
3 and 4 planes (with 3- and 4-bit RTN beside them), and the variants with
0.5% outliers and X^T X calibration; the QAT runs of ``qat`` are appended
when their state exists. Each row's result is kept in ``DIR/rows/`` (a rerun
only evaluates the missing rows); the calibration statistics and the tuned
schemes are computed when missing. The table goes to ``DIR/eval-table.md``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import time

import numpy as np

from . import calibration, corpus, gguf_model, methods, perplexity, tuning

TUNE_OPTIONS = "budget-bpw=2.25"
TUNED = "tune-2.25.json"

# (what the row is, spec); {tuned} and the calibration directory are filled in.
ROWS = [
    ("float32 (dequantized Q4_1)", "float"),
    ("RTN min/max 2-bit", "rtn-minmax:2:128"),
    ("RTN absmax 2-bit (ternary)", "rtn-absmax:2:128"),
    ("R2Q greedy 2 planes", "r2q-greedy:2:128"),
    ("R2Q refined 2 planes", "r2q-refined:2:128"),
    ("R2Q greedy 2 planes, G=64", "r2q-greedy:2:64"),
    ("R2Q greedy 2 planes, per-channel", "r2q-greedy:2:pc"),
    ("R2Q greedy, tuned (r2q-tune-group-size budget-bpw=2.25)", "r2q-greedy:2:128:schemes={tuned}"),
    ("RTN min/max 3-bit", "rtn-minmax:3:128"),
    ("R2Q greedy 3 planes", "r2q-greedy:3:128"),
    ("RTN min/max 4-bit", "rtn-minmax:4:128"),
    ("R2Q greedy 4 planes", "r2q-greedy:4:128"),
    ("RTN min/max 2-bit, 0.5% outliers", "rtn-minmax:2:128:outliers=0.005"),
    ("R2Q greedy 2 planes, 0.5% outliers", "r2q-greedy:2:128:outliers=0.005"),
    ("R2Q refined 2 planes, 0.5% outliers", "r2q-refined:2:128:outliers=0.005"),
    ("R2Q greedy 2 planes, 0.5% outliers, X^T X calibration",
     "r2q-greedy:2:128:outliers=0.005:calib=gram"),
    ("R2Q refined 2 planes, 0.5% outliers, X^T X calibration",
     "r2q-refined:2:128:outliers=0.005:calib=gram"),
]


def log(message: str):
    print(message, file=sys.stderr, flush=True)


def row_path(out: str, spec: str, windows: int) -> str:
    digest = hashlib.sha1(f"{spec} {windows}".encode()).hexdigest()[:12]
    return os.path.join(out, "rows", f"{digest}.json")


def ensure_calibration(model, text, directory: str, windows: int = 32):
    """X^T X statistics of `calibrate --windows 32` in `directory`, computed
    when missing."""
    if os.path.exists(os.path.join(directory, "index.json")):
        return
    stats = calibration.InputStatistics()
    indices = text.train_indices(windows)
    for count, index in enumerate(indices, 1):
        model.forward(text.windows[index][None], observe=stats)
        log(f"[eval calibrate] window {count}/{len(indices)}")
    stats.save(directory, {"windows": indices.tolist(), "window_tokens": corpus.WINDOW})


def ensure_tuned(model, path: str):
    if os.path.exists(path):
        return
    start = time.time()
    layers, total = tuning.tune(model.linear, TUNE_OPTIONS)
    log(f"[eval tune] {total} ({time.time() - start:.0f} s)")
    with open(path, "w") as f:
        json.dump({"options": TUNE_OPTIONS, "total": total, "layers": layers}, f, indent=1)


def evaluate_row(model, windows, what: str, spec: str, calibration_dir: str) -> dict:
    quantizer = methods.parse(spec, calibration_dir)
    start = time.time()
    target = model if quantizer is None else model.with_linear(quantizer)
    quantize_seconds = time.time() - start
    result = perplexity.evaluate(target, windows, quantizer.label if quantizer else "float")
    errors = list(v[2] for v in quantizer.layers.values()) if quantizer else [0.0]
    return {"what": what, "spec": spec, "perplexity": result.perplexity,
            "bits_per_weight": quantizer.bits_per_weight() if quantizer else 32.0,
            "mean_relative_error": float(np.mean(errors)),
            "quantize_seconds": quantize_seconds, "eval_seconds": result.seconds}


def qat_rows(qat_dir: str) -> list[dict]:
    """The last point of every QAT curve under qat_dir (r2q, rtn)."""
    rows = []
    names = {"r2q": "R2Q-QAT greedy 2 planes, 0.5% outliers", "rtn": "RTN-QAT min/max 2-bit, 0.5% outliers"}
    for method, what in names.items():
        path = os.path.join(qat_dir, method, "curve.csv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            curve = list(csv.DictReader(f))
        last = curve[-1]
        rows.append({"what": f"{what}, {last['step']} QAT steps", "spec": f"qat --method {method}",
                     "perplexity": float(last["perplexity"]),
                     "bits_per_weight": float(last["bits_per_weight"]),
                     "mean_relative_error": None, "quantize_seconds": None,
                     "eval_seconds": None})
    return rows


def markdown(rows: list[dict], float_ppl: float) -> str:
    lines = ["| method | spec | bits/weight | mean layer rel. error | perplexity | x float |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        error = "-" if row["mean_relative_error"] is None else f"{row['mean_relative_error']:.4f}"
        ppl = row["perplexity"]
        shown = f"{ppl:.2f}" if ppl < 1e4 else f"{ppl:.3g}"
        ratio = ppl / float_ppl
        ratio_shown = f"{ratio:.2f}" if ratio < 100 else f"{ratio:.3g}"
        lines.append(f"| {row['what']} | `{row['spec']}` | {row['bits_per_weight']:.3f} | {error} | "
                     f"{shown} | {ratio_shown} |")
    return "\n".join(lines) + "\n"


def build(model, text, out: str, windows: int, calibration_dir: str, qat_dir: str) -> str:
    """Evaluates the missing rows, writes DIR/eval-table.md, returns its text."""
    os.makedirs(os.path.join(out, "rows"), exist_ok=True)
    eval_windows = text.eval_windows(windows)
    tuned = os.path.join(out, TUNED)
    rows, start = [], time.time()
    for index, (what, spec) in enumerate(ROWS, 1):
        spec = spec.format(tuned=tuned)
        path = row_path(out, spec, windows)
        if not os.path.exists(path):
            if "calib=" in spec:
                ensure_calibration(model, text, calibration_dir)
            if "schemes=" in spec:
                ensure_tuned(model, tuned)
            log(f"[eval] row {index}/{len(ROWS)}: {spec} ({(time.time() - start) / 60:.1f} min so far)")
            row = evaluate_row(model, eval_windows, what, spec, calibration_dir)
            with open(path, "w") as f:
                json.dump(row, f, indent=1)
        with open(path) as f:
            rows.append(json.load(f))
        row = rows[-1]
        print(f"{row['what']:60s} bpw {row['bits_per_weight']:6.3f}  error "
              f"{row['mean_relative_error']:.4f}  ppl {row['perplexity']:12.3f}", flush=True)
    rows.extend(qat_rows(qat_dir))
    table = markdown(rows, rows[0]["perplexity"])
    with open(os.path.join(out, "eval-table.md"), "w") as f:
        f.write(table)
    log(f"[eval] {len(rows)} rows; this run took {(time.time() - start) / 60:.1f} min")
    return table
