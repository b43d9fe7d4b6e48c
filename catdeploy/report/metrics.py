"""Pure numeric functions of the report: SQNR, layouts, dequantization, level counts."""
from __future__ import annotations

import math

import numpy as np

from catdeploy.integer.metrics import top_k


def nchw_to_nhwc(values_nchw: np.ndarray) -> np.ndarray:
    """A float graph value in the integer program's layout: 4-D NCHW -> NHWC, others unchanged."""
    values_nchw = np.asarray(values_nchw)
    return np.transpose(values_nchw, (0, 2, 3, 1)) if values_nchw.ndim == 4 else values_nchw


def power_sums(reference_f: np.ndarray, approx_f: np.ndarray) -> tuple[float, float]:
    """(sum of reference^2, sum of (reference - approx)^2): the SQNR terms of one batch."""
    reference_f = np.asarray(reference_f, np.float64)
    error = reference_f - np.asarray(approx_f, np.float64)
    return float(np.sum(reference_f * reference_f)), float(np.sum(error * error))


def sqnr_db(signal: float, noise: float) -> float | None:
    """10 log10(signal / noise); None when undefined (no signal, or no noise at all)."""
    if signal <= 0.0 or noise <= 0.0:
        return None
    return 10.0 * math.log10(signal / noise)


def level_limit(bits: int | None) -> int | None:
    """2^bits: how many distinct codes a tensor of `bits` may take."""
    return None if bits is None else 1 << int(bits)


def top1_percent(logits: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent (ties to the lower class index, like TFLite ARG_MAX)."""
    return top_k(np.asarray(logits), np.asarray(labels), 1) * 100
