"""DEQUANTIZE: reference_ops::Dequantize / PerChannelDequantize (reference/dequantize.h), §2.9.

out = float32(double(scale) * (q - zero_point)), per tensor or per channel along `axis`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def dequantize(x: np.ndarray, *, scale: Sequence[float], zero_point: Sequence[int],
               axis: int = 0) -> np.ndarray:
    q = np.asarray(x, dtype=np.int64)
    s = np.asarray(scale, dtype=np.float32).astype(np.float64)
    z = np.asarray(zero_point, dtype=np.int64)
    if s.size > 1:
        shape = [1] * q.ndim
        shape[axis] = s.size
        s = s.reshape(shape)
        z = z.reshape(shape)
    else:
        s = s.reshape(())
        z = z.reshape(())
    return (s * (q - z).astype(np.float64)).astype(np.float32)
