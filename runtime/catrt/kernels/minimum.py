"""MINIMUM: reference_ops::MaximumMinimumBroadcastSlow with min on raw values (no requantization,
quantization assumed equal), §2.8."""
from __future__ import annotations

import numpy as np


def minimum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.minimum(a, b)
