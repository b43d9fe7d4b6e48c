"""PAD int8: reference_ops::Pad (reference/pad.h); the pad value is the output zero point,
with no requantization (input and output quantization must match), §2.8."""
from __future__ import annotations

import numpy as np

from ..errors import CatrtError

MAX_PAD_OUTPUT_ELEMENTS = 1 << 30


def pad(x: np.ndarray, paddings: np.ndarray, pad_value: int) -> np.ndarray:
    """paddings: [rank, 2] (before, after) per dimension, non-negative."""
    p = np.asarray(paddings, dtype=np.int64)
    if p.shape != (x.ndim, 2):
        raise CatrtError(f"PAD: paddings shape {p.shape} does not match input rank {x.ndim}")
    if np.any(p < 0):
        raise CatrtError(f"PAD: negative paddings {p.tolist()}")
    out_elements = 1
    for size, (before, after) in zip(x.shape, p.tolist()):
        out_elements *= size + before + after
    if out_elements > MAX_PAD_OUTPUT_ELEMENTS:
        raise CatrtError(f"PAD: output of {out_elements} elements is too large")
    return np.pad(x, [(int(a), int(b)) for a, b in p], mode="constant",
                  constant_values=np.asarray(pad_value).astype(x.dtype))
