"""ARG_MAX: reference_ops::ArgMinMax (reference/arg_min_max.h) with strict '>', so the first
index wins on ties, §2.8."""
from __future__ import annotations

import numpy as np


def arg_max(x: np.ndarray, axis: int, out_dtype=np.int32) -> np.ndarray:
    return np.argmax(x, axis=axis).astype(out_dtype)
