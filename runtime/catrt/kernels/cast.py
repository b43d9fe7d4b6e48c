"""CAST: cast.cc copyCast, out[i] = static_cast<ToT>(in[i]), element by element; quantization
parameters are ignored (raw values are copied). catrt runs only the widening integer casts of
the CAT score path (int8 -> int16, int16 -> int32), which are exact."""
from __future__ import annotations

import numpy as np


def cast(x: np.ndarray, out_dtype) -> np.ndarray:
    return np.asarray(x).astype(out_dtype)
