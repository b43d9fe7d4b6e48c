"""Dequantization and the scores of logits: top-k, agreement."""
from __future__ import annotations

import numpy as np


def dequantize(values_q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """(q - zero_point) * scale in float64, the scale rounded to float32 as stored in the file.
    Cast to float32, this is also the float32 product (q - zp) * scale (both are the correctly
    rounded value of the same exact product)."""
    return (np.asarray(values_q, np.float64) - zero_point) * np.float64(np.float32(scale))


def top_k(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the k largest logits; ties go to the lower index,
    like TFLite ARG_MAX."""
    k = min(k, logits.shape[1])
    order = np.argsort(-logits.astype(np.float64), axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(order == labels[:, None], axis=1)))


def top1_agreement(logits_a: np.ndarray, logits_b: np.ndarray) -> float:
    """Fraction of rows whose argmax (lower index on ties) is the same in both."""
    return float(np.mean(np.argmax(logits_a, 1) == np.argmax(logits_b, 1)))
