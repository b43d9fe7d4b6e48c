"""Range observers: min/max and the Lp-norm grid searches (LpSearch: weights p = 2.4 over 100 clipping
ranges per channel; activations a 2-D search of both ends over a histogram, same p).

Activation observers see float samples of one tensor; weight observers see one weight array with
the output channel on axis 0. Both return clipping ranges (lo <= 0 <= hi); qparams.py turns ranges
into grids.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catdeploy.quant.qparams import (
    ActQParams,
    WeightQParams,
    act_qparams_from_range,
    fake_quant_act,
    weight_code_range,
    weight_qparams_from_range,
)

OBSERVERS = ("minmax", "lp")
# Bounded activations whose grid is fixed by the op, not observed (QuantPlan.fixed_grids):
#   "logistic": TFLite LOGISTIC's int8 output grid, scale 1/256 with real 0 at int8 -128
#               (activations.cc SigmoidPrepare requires it); always 8 bit;
#   "unit_interval": the grid of [0, 1] at the planned width (hard sigmoid: its range exactly).
FIXED_GRIDS = ("logistic", "unit_interval")


@dataclass(frozen=True)
class LpSearch:
    """The range searches. Weights: per channel, the 1-D family [lo * f, hi * f], f = i / candidates,
    minimising the Lp error (p = 2.4). Activations: a 2-D grid, the lower end lo * g
    (g = j / low_steps) and the upper end hi * f chosen independently, minimising the same Lp error
    (act_p = 2.4) over a histogram of the samples (`bins` bins over [lo, hi]: a bin is 1/256 of
    the finest 4-bit step at most)."""

    p: float = 2.4
    candidates: int = 100
    act_p: float = 2.4
    low_steps: int = 10
    bins: int = 4096


def observe_activation(samples: np.ndarray, bits: int, observer: str, search: LpSearch = LpSearch()) -> ActQParams:
    """Per-tensor asymmetric grid for float samples of one activation tensor.

    The lower end is searched on its own because a 1-D family [lo * f, hi * f] ties it to the upper
    end: for a small negative part (SiLU's -0.28, hard-swish's -0.375) and a wide positive one, the
    Lp-best candidates there round the zero point to 0 at 4 bit and clip the whole negative part
    (FMNIST-EffB0 W4A4 RTN, 500 held-out train images: 23.2 % top-1 with that family, 86.6 % with
    this search; MBV2 90.2 -> 90.4, MBV3S 83.2 -> 82.2; docs/ARCHITECTURES.md)."""
    x = np.asarray(samples, np.float32).ravel()
    lo, hi = float(min(x.min(), 0.0)), float(max(x.max(), 0.0))
    if observer == "minmax" or hi - lo <= 0:
        return act_qparams_from_range(lo, hi, bits)
    counts, edges = np.histogram(x, bins=search.bins, range=(lo, hi))
    centers = ((edges[:-1] + edges[1:]) / 2)[counts > 0]
    weights = counts[counts > 0].astype(np.float64)
    low_fractions = [j / search.low_steps for j in range(search.low_steps, -1, -1)] if lo < 0 else [1.0]
    best, best_err = None, np.inf
    for g in low_fractions:
        for i in range(search.candidates, 0, -1):
            qp = act_qparams_from_range(lo * g, hi * i / search.candidates, bits)
            err = float(np.dot(weights, np.abs(fake_quant_act(centers, qp).astype(np.float64) - centers) ** search.act_p))
            if err < best_err:
                best, best_err = qp, err
    return best


def fixed_grid(rule: str, bits: int) -> ActQParams:
    """The grid of a bounded activation (FIXED_GRIDS)."""
    if rule == "logistic":
        return ActQParams(8, 1.0 / 256.0, 0)
    if rule == "unit_interval":
        return act_qparams_from_range(0.0, 1.0, bits)
    raise ValueError(f"unknown fixed grid {rule!r}; expected one of {FIXED_GRIDS}")


def observe_weight(w: np.ndarray, bits: int, symmetric: bool, observer: str,
                   search: LpSearch = LpSearch()) -> WeightQParams:
    """Per-output-channel grid (axis 0) for a weight array."""
    w2 = np.asarray(w, np.float32).reshape(w.shape[0], -1)
    lo = np.minimum(w2.min(axis=1), 0.0)
    hi = np.maximum(w2.max(axis=1), 0.0)
    if observer == "minmax":
        return weight_qparams_from_range(lo, hi, bits, symmetric)
    qmin, qmax = weight_code_range(bits, symmetric)
    best_err = np.full(w2.shape[0], np.inf)
    best_lo, best_hi = lo.copy(), hi.copy()
    for i in range(1, search.candidates + 1):
        frac = i / search.candidates
        qp = weight_qparams_from_range(lo * frac, hi * frac, bits, symmetric)
        s = qp.scale[:, None]
        z = qp.zero_point[:, None]
        deq = (np.clip(np.rint(w2 / s) + z, qmin, qmax) - z) * s
        err = np.mean(np.abs(deq - w2) ** search.p, axis=1)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_lo = np.where(better, lo * frac, best_lo)
        best_hi = np.where(better, hi * frac, best_hi)
    return weight_qparams_from_range(best_lo, best_hi, bits, symmetric)
