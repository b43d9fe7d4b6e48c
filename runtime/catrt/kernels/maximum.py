"""MAXIMUM: reference_ops::MaximumMinimumBroadcastSlow with max on raw values (no requantization,
quantization assumed equal), §2.8."""
from __future__ import annotations

import numpy as np


def maximum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(a, b)
