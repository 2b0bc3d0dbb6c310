"""Calibration statistics: X^T X of the input of every linear layer.

``InputStatistics`` is an observer for ``Llama.forward``: for each linear
layer input X (tokens x K, float32) it accumulates X^T X (K x K) in float64.
Layers that share an input (q/k/v after attn_norm, gate/up after ffn_norm)
share one matrix and one file. ``save(directory)`` writes

- ``<name>.xtx.npy``: X^T X (K x K, float64), with <name> the first layer of
  the group (``blk.3.attn_q`` for q, k and v of block 3);
- ``<name>.diag.npy``: its diagonal (K, float64), sum of x_k^2;
- ``index.json``: ``{"layers": {layer: {"xtx": file, "diag": file, "K": K,
  "tokens": count}}, "windows": [...], "window_tokens": T}``: every linear
  layer appears, pointing at its group's files.
"""

from __future__ import annotations

import json
import os

import numpy as np


class InputStatistics:
    def __init__(self):
        self.xtx = {}  # tuple of layer names -> K x K float64
        self.tokens = {}  # tuple of layer names -> rows accumulated

    def __call__(self, names: tuple, x: np.ndarray):
        x64 = x.astype(np.float64)
        if names not in self.xtx:
            self.xtx[names] = np.zeros((x.shape[1], x.shape[1]), dtype=np.float64)
            self.tokens[names] = 0
        self.xtx[names] += x64.T @ x64
        self.tokens[names] += x.shape[0]

    def save(self, directory: str, extra: dict | None = None) -> str:
        os.makedirs(directory, exist_ok=True)
        layers = {}
        for names, xtx in self.xtx.items():
            stem = names[0]
            np.save(os.path.join(directory, f"{stem}.xtx.npy"), xtx)
            np.save(os.path.join(directory, f"{stem}.diag.npy"), np.diag(xtx).copy())
            for name in names:
                layers[name] = {
                    "xtx": f"{stem}.xtx.npy",
                    "diag": f"{stem}.diag.npy",
                    "K": int(xtx.shape[0]),
                    "tokens": int(self.tokens[names]),
                }
        index_path = os.path.join(directory, "index.json")
        with open(index_path, "w") as f:
            json.dump({"layers": layers, **(extra or {})}, f, indent=1, sort_keys=True)
        return index_path


def load_layer(directory: str, layer: str):
    """(X^T X, diagonal, token count) of one layer from a saved directory."""
    with open(os.path.join(directory, "index.json")) as f:
        entry = json.load(f)["layers"][layer]
    xtx = np.load(os.path.join(directory, entry["xtx"]))
    diag = np.load(os.path.join(directory, entry["diag"]))
    return xtx, diag, entry["tokens"]
