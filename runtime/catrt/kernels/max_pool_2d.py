"""MAX_POOL_2D int8: reference_integer_ops::MaxPool (reference/integer_ops/pooling.h), §2.8.

Max of raw values over the window clipped to the image (padding never selected; a window with
no valid cell yields the int8 minimum), then clamp to [lo, hi].
"""
from __future__ import annotations

import numpy as np

from .common import compute_padding, useful_taps, window_tap


def max_pool_2d(x: np.ndarray, *, filter_size: tuple, stride: tuple, padding: int,
                activation_min: int, activation_max: int) -> np.ndarray:
    n, h, w, c = x.shape
    fh, fw = filter_size
    sh, sw = stride
    out_h, pad_top = compute_padding(padding, sh, 1, h, fh, "MAX_POOL_2D")
    out_w, pad_left = compute_padding(padding, sw, 1, w, fw, "MAX_POOL_2D")
    lowest = np.iinfo(np.int8).min
    out = np.full((n, out_h, out_w, c), lowest, dtype=np.int8)
    for ky in useful_taps(fh, 1, out_h, sh, pad_top, h):
        for kx in useful_taps(fw, 1, out_w, sw, pad_left, w):
            np.maximum(out, window_tap(x, ky, kx, out_h, out_w, stride, pad_top, pad_left, lowest),
                       out=out)
    return np.clip(out, activation_min, activation_max).astype(np.int8)
