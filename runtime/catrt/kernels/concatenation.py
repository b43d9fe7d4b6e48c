"""CONCATENATION int8: reference_ops::Concatenation (reference/concatenation.h); raw values,
no requantization (int8 inputs must share the output's scale and zero point), §2.8."""
from __future__ import annotations

import numpy as np


def concatenation(inputs: list, axis: int) -> np.ndarray:
    return np.concatenate(inputs, axis=axis)
