"""The QAT perplexity curves as one CSV and one SVG (hand-written, no plotting
library): perplexity (log scale) against training steps, one line per method,
with the float model, 3x float (the issue's target) and the best post-training
R2Q at the same bits as horizontal lines."""

from __future__ import annotations

import csv
import math
import os

COLORS = {"r2q": "#1f5fbf", "rtn": "#c0392b"}
LABELS = {"r2q": "R2Q-QAT (R2QLinear, 2 planes, G=128, 0.5% outliers)",
          "rtn": "RTN-QAT (2-bit min/max, G=128, 0.5% outliers)"}
WIDTH, HEIGHT = 720, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 125


def read_curves(qat_dir: str) -> dict[str, list[dict]]:
    curves = {}
    for method in COLORS:
        path = os.path.join(qat_dir, method, "curve.csv")
        if os.path.exists(path):
            with open(path) as f:
                curves[method] = [{**row, "step": int(row["step"]),
                                   "perplexity": float(row["perplexity"])}
                                  for row in csv.DictReader(f)]
    return curves


def write_csv(curves: dict, path: str):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "step", "perplexity", "bits_per_weight", "train_seconds"])
        for rows in curves.values():
            for row in rows:
                writer.writerow([row["method"], row["step"], row["perplexity"],
                                 row["bits_per_weight"], row["train_seconds"]])


def svg(curves: dict, float_ppl: float | None, references=()) -> str:
    """references: (perplexity, label) of other models, drawn as dashed lines."""
    values = [row["perplexity"] for rows in curves.values() for row in rows]
    values += [value for value, _ in references]
    if float_ppl:
        values.append(float_ppl)
    low = 10 ** math.floor(math.log10(min(values)))
    high = 10 ** math.ceil(math.log10(max(values)))
    steps = max(row["step"] for rows in curves.values() for row in rows) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(step):
        return LEFT + plot_w * step / steps

    def y(ppl):
        return TOP + plot_h * (1 - (math.log10(ppl) - math.log10(low)) /
                               (math.log10(high) - math.log10(low)))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>']
    decade = low
    while decade <= high * 1.0001:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(decade):.1f}" y2="{y(decade):.1f}" '
                     f'stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(decade) + 4:.1f}" text-anchor="end">'
                     f'{decade:g}</text>')
        decade *= 10
    tick = max(1, 10 ** math.floor(math.log10(steps)) // 2)
    for step in range(0, steps + 1, int(tick)):
        parts.append(f'<text x="{x(step):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{step}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h + 34}" text-anchor="middle">'
                 f'training steps (1 window of 256 tokens each)</text>')
    parts.append(f'<text transform="translate(16 {TOP + plot_h / 2}) rotate(-90)" '
                 f'text-anchor="middle">perplexity, 32 evaluation windows (log)</text>')
    legend = []
    if float_ppl:
        for value, dash, label in ((float_ppl, "4 3", f"float ({float_ppl:.2f})"),
                                   (3 * float_ppl, "1 3", f"3x float ({3 * float_ppl:.1f}, target)")):
            parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" '
                         f'y2="{y(value):.1f}" stroke="black" stroke-dasharray="{dash}"/>')
            legend.append(("black", dash, label))
    for value, label in references:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" '
                     f'y2="{y(value):.1f}" stroke="#2e8b57" stroke-dasharray="8 4"/>')
        legend.append(("#2e8b57", "8 4", f"{label} ({value:.1f})"))
    for method, rows in curves.items():
        points = " ".join(f"{x(r['step']):.1f},{y(r['perplexity']):.1f}" for r in rows)
        color = COLORS[method]
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{x(r["step"]):.1f}" cy="{y(r["perplexity"]):.1f}" r="3" fill="{color}"/>'
                  for r in rows]
        last = rows[-1]
        legend.append((color, None, f"{LABELS[method]}: {last['perplexity']:.1f} at step {last['step']}"))
    for index, (color, dash, label) in enumerate(legend):
        ly = TOP + plot_h + 52 + 14 * index
        style = f' stroke-dasharray="{dash}"' if dash else ' stroke-width="2"'
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + 24}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}"{style}/>')
        parts.append(f'<text x="{LEFT + 30}" y="{ly}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write(qat_dir: str, out_dir: str, float_ppl: float | None,
          references=()) -> tuple[str, str]:
    """Writes qat-curve.csv and qat-curve.svg to out_dir; returns their paths."""
    curves = read_curves(qat_dir)
    if not curves:
        raise FileNotFoundError(f"no QAT curve under {qat_dir} (run `qat` first)")
    os.makedirs(out_dir, exist_ok=True)
    csv_path, svg_path = (os.path.join(out_dir, f"qat-curve.{ext}") for ext in ("csv", "svg"))
    write_csv(curves, csv_path)
    with open(svg_path, "w") as f:
        f.write(svg(curves, float_ppl, references))
    return csv_path, svg_path
