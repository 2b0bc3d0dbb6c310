"""R2Q rows of the table, through the ``r2q`` module (PYTHONPATH=build/python),
and outliers for the round-to-nearest baselines.

Specs (``python -m r2q_eval ppl --method SPEC``): ``r2q-greedy:P:G`` and
``r2q-refined:P:G`` (P planes, group size G), with optional ``:outliers=F``
(keep the fraction F of each matrix's largest weights exactly, f16
corrections) and ``:calib=diag|gram`` (activation-aware scales from the
diagonal of X^T X, or error feedback from the full X^T X; needs
``--calibration DIR`` from ``python -m r2q_eval calibrate``). ``:outliers=F``
also applies to ``rtn-minmax`` / ``rtn-absmax``: the same weights are kept
exactly, zeroed before the groups' ranges are taken, and the same bits are
counted for them (i32 row offsets, i16 columns, f16 values).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from . import calibration, rtn


def relative_error(w: np.ndarray, w_hat: np.ndarray) -> float:
    return float(np.linalg.norm(w - w_hat) / max(np.linalg.norm(w), 1e-30))


def outlier_mask(w: np.ndarray, fraction: float) -> np.ndarray:
    """The `fraction` of weights with the largest magnitudes (ties broken in
    row-major order), as r2q's numerics core selects them."""
    count = int(round(fraction * w.size))
    magnitude = np.abs(w).ravel()
    mask = np.zeros(w.size, dtype=bool)
    if count:
        # The count-th largest magnitude (a linear-time partition, not a sort):
        # everything above it, then the ties at it in row-major order.
        threshold = np.partition(magnitude, w.size - count)[w.size - count]
        mask = magnitude > threshold
        ties = np.flatnonzero(magnitude == threshold)
        mask[ties[:count - int(mask.sum())]] = True
    return mask.reshape(w.shape)


def rtn_with_outliers(w: np.ndarray, bits: int, group: int, scheme: str,
                      fraction: float) -> tuple[np.ndarray, int]:
    """(W_hat, stored bits): round-to-nearest of W with the `fraction` of its
    largest weights kept exactly (zeroed before the groups' ranges are taken)."""
    mask = outlier_mask(w, fraction)
    w_hat = rtn.rtn(np.where(mask, 0.0, w).astype(np.float32), bits, group, scheme)
    w_hat[mask] = w[mask]
    bits_stored = rtn.storage_bits(*w.shape, bits, group, scheme)
    return w_hat, bits_stored + outlier_bits(*w.shape, int(mask.sum()))


def outlier_bits(n: int, k: int, count: int) -> int:
    """CSR storage: i32 offsets, i16 (K <= 32768) or i32 columns, f16 values."""
    if count == 0:
        return 0
    return 32 * (n + 1) + count * ((16 if k <= 32768 else 32) + 16)


class R2QQuantizer:
    """quantize(name, W) -> W_hat through r2q.quantize / r2q.dequantize,
    recording weights, stored bits and relative error per layer."""

    def __init__(self, planes: int, group: int, method: str, outliers: float = 0.0,
                 calib: str | None = None, calibration_dir: str | None = None,
                 schemes: str | None = None):
        import r2q  # Built by the project: PYTHONPATH=build/python.

        if calib not in (None, "diag", "gram"):
            raise ValueError(f"calib must be diag or gram, got '{calib}'")
        if calib and not calibration_dir:
            raise ValueError("calib needs --calibration DIR (python -m r2q_eval calibrate)")
        self.r2q = r2q
        self.planes, self.group, self.method = planes, group, method
        self.outliers, self.calib, self.calibration_dir = outliers, calib, calibration_dir
        # Per layer (group size, planes) chosen by `python -m r2q_eval tune`.
        self.schemes_path, self.schemes = schemes, None
        if schemes:
            with open(schemes) as f:
                self.schemes = {name: (int(fields["group"]), int(fields["planes"]))
                                for name, fields in json.load(f)["layers"].items()}
        self.layers = {}

    @property
    def label(self) -> str:
        label = f"r2q-{self.method} {self.planes}p G={self.group or 'per-channel'}"
        if self.outliers:
            label += f" out={self.outliers:g}"
        if self.calib:
            label += f" calib={self.calib}"
        if self.schemes:
            label = label.replace(f"{self.planes}p G={self.group or 'per-channel'}", f"tuned ({os.path.basename(self.schemes_path)})")
        return label

    def __call__(self, name: str, w: np.ndarray) -> np.ndarray:
        gram = diagonal = None
        if self.calib:
            xtx, diag, _ = calibration.load_layer(self.calibration_dir, name)
            gram, diagonal = (xtx, None) if self.calib == "gram" else (None, diag)
        start = time.time()
        group, planes = self.schemes[name] if self.schemes else (self.group, self.planes)
        group = group or w.shape[1]  # 0: per-channel
        q = self.r2q.quantize(w, group_size=group, planes=planes,
                              method=self.method, outliers=self.outliers,
                              gram=gram, diagonal=diagonal)
        w_hat = self.r2q.dequantize(q)
        self.layers[name] = (w.size, 8 * q.storage_bytes, relative_error(w, w_hat))
        if self.calib:  # Error feedback takes seconds per layer: say where it is.
            print(f"[{self.label}] {name} {w.shape[0]}x{w.shape[1]} "
                  f"({len(self.layers)} layers, {time.time() - start:.1f} s)",
                  file=sys.stderr, flush=True)
        return w_hat

    def bits_per_weight(self) -> float:
        weights = sum(v[0] for v in self.layers.values())
        return sum(v[1] for v in self.layers.values()) / max(weights, 1)


class RtnWithOutliers(rtn.RtnQuantizer):
    """Round-to-nearest with the same outliers as R2Q kept exactly."""

    def __init__(self, bits: int, group: int, scheme: str, outliers: float):
        super().__init__(bits, group, scheme)
        self.outliers = outliers

    @property
    def label(self) -> str:
        return super().label + f" out={self.outliers:g}"

    def __call__(self, name: str, w: np.ndarray) -> np.ndarray:
        w_hat, bits = rtn_with_outliers(w, self.bits, self.group, self.scheme, self.outliers)
        self.layers[name] = (w.size, bits, relative_error(w, w_hat))
        return w_hat
