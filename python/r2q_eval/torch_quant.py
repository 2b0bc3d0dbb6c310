"""The fake quantizers of QAT written in torch, for any device (a GPU has no
r2q extension): greedy R2Q with outliers, as the C++ core computes it
(lib/Quant/R2Q.cpp), and round-to-nearest min/max with outliers, as
``r2q_methods.rtn_with_outliers``. ``test/Eval/qat.py`` compares them with the
core and the numpy code on real weights.

Both take W (N x K float32) and return W_hat (N x K float32):

- Outliers: the round(F * N * K) largest magnitudes (ties in row-major order).
- R2Q, per group of G columns (a shorter last group): P greedy stages,
  s = sign(r) (+1 for 0), a = mean |r| over the group's non-outliers (in
  float64, then float32, then rounded to f16), r -= a s; every outlier then
  takes the nearest of the 2^P levels and is corrected by the f16 rounding of
  w - level. W_hat = sum_p a_p s_p (float32, plane order) + corrections.
- RTN min/max (B bits): outliers zeroed before the group's range is taken,
  m = f16(min), d = the next f16 >= (max - m) / (2^B - 1), q = clip(rint((w -
  m) / d)), W_hat = m + d q, outliers kept exactly.
"""

from __future__ import annotations

import itertools

import torch


def outlier_mask(w: torch.Tensor, fraction: float) -> torch.Tensor:
    count = int(round(fraction * w.numel()))
    magnitude = w.abs().flatten()
    if count == 0:
        return torch.zeros_like(w, dtype=torch.bool)
    threshold = torch.topk(magnitude, count, sorted=False).values.min()
    mask = magnitude > threshold
    ties = torch.nonzero(magnitude == threshold).flatten()
    mask[ties[:count - int(mask.sum())]] = True
    return mask.view(w.shape)


def _grouped(x: torch.Tensor, group: int, fill=0.0) -> torch.Tensor:
    """N x K -> N x groups x G, the last group padded with `fill`."""
    n, k = x.shape
    groups = -(-k // group)
    padded = torch.nn.functional.pad(x, (0, groups * group - k), value=fill)
    return padded.view(n, groups, group)


def _round_f16(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float16).to(torch.float32)


def greedy_r2q(w: torch.Tensor, planes: int, group: int, fraction: float) -> torch.Tensor:
    n, k = w.shape
    mask = outlier_mask(w, fraction)
    weight = _grouped((~mask).to(torch.float64), group)
    residual = _grouped(w, group)
    total = weight.sum(-1, keepdim=True)
    scales, signs = [], []
    for _ in range(planes):
        magnitude = residual.abs().to(torch.float64)
        mean = torch.where(total > 0, (weight * magnitude).sum(-1, keepdim=True) / total.clamp(min=1),
                           magnitude.sum(-1, keepdim=True) / _lengths(k, group, w.device))
        scale = _round_f16(mean.to(torch.float32))
        sign = torch.where(residual < 0, -1.0, 1.0)
        residual = residual - scale * sign
        scales.append(scale)
        signs.append(sign)
    decoded = scales[0] * signs[0]
    for plane in range(1, planes):
        decoded = decoded + scales[plane] * signs[plane]
    decoded = decoded.view(n, -1)[:, :k]
    if not mask.any():
        return decoded
    rows, cols = torch.nonzero(mask, as_tuple=True)
    level_scales = torch.cat(scales, dim=-1).view(n, -1, planes)[rows, cols // group].to(torch.float64)
    levels, codes = _sorted_levels(level_scales, planes)
    midpoints = 0.5 * (levels[:, 1:] + levels[:, :-1])
    index = (w[rows, cols].to(torch.float64)[:, None] >= midpoints).sum(-1)
    code = codes.gather(1, index[:, None])[:, 0]
    level = torch.zeros_like(rows, dtype=torch.float32)
    for plane in range(planes):
        negative = (code >> plane) & 1
        scale = level_scales[:, plane].to(torch.float32)
        level = level + torch.where(negative == 1, -scale, scale)
    correction = _round_f16((w[rows, cols].to(torch.float64) - level.to(torch.float64)).to(torch.float32))
    result = decoded.clone()
    result[rows, cols] = level + correction
    return result


def _lengths(k: int, group: int, device) -> torch.Tensor:
    """The number of columns of every group (the last may be shorter)."""
    lengths = torch.full((-(-k // group),), float(group), dtype=torch.float64, device=device)
    lengths[-1] = k - group * (len(lengths) - 1)
    return lengths[:, None]


def _sorted_levels(scales: torch.Tensor, planes: int):
    """Per row of `scales` (M x P, float64) the 2^P levels sum_p +-a_p
    ascending (stable in code order) and their codes (bit p set for -)."""
    codes = torch.arange(1 << planes, device=scales.device)
    bits = torch.tensor(list(itertools.product((0, 1), repeat=planes))[::1],
                        device=scales.device).flip(-1)  # bits[c][p] = bit p of c
    sign = 1.0 - 2.0 * bits.to(torch.float64)
    levels = torch.zeros(scales.shape[0], len(codes), dtype=torch.float64, device=scales.device)
    for plane in range(planes):
        levels = levels + scales[:, plane:plane + 1] * sign[:, plane][None, :]
    order = torch.sort(levels, dim=-1, stable=True).indices
    return levels.gather(1, order), codes[order]


def _f16_at_least(x: torch.Tensor) -> torch.Tensor:
    rounded = x.to(torch.float16)
    low = rounded.to(torch.float32) < x
    bumped = (rounded.view(torch.int16) + 1).view(torch.float16)
    return torch.where(low, bumped, rounded).to(torch.float32)


def rtn_minmax(w: torch.Tensor, bits: int, group: int, fraction: float) -> torch.Tensor:
    n, k = w.shape
    mask = outlier_mask(w, fraction)
    zeroed = torch.where(mask, 0.0, w)
    blocks = _grouped(zeroed, group, fill=float("nan"))
    low = torch.nan_to_num(blocks, nan=float("inf")).amin(-1, keepdim=True)
    high = torch.nan_to_num(blocks, nan=float("-inf")).amax(-1, keepdim=True)
    top = (1 << bits) - 1
    m = _round_f16(low)
    d = _f16_at_least(torch.clamp(high - m, min=0.0) / top)
    safe = torch.where(d > 0, d, 1.0)
    q = torch.clamp(torch.round((blocks - m) / safe), 0, top)
    w_hat = (m + d * q).view(n, -1)[:, :k]
    return torch.where(mask, w, w_hat)
