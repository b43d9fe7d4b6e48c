"""AVERAGE_POOL_2D int8: reference_integer_ops::AveragePool (reference/integer_ops/pooling.h),
§2.7.

Sum of raw int8 values over the window clipped to the image (padding cells not counted),
divided by the number n of valid cells rounding half away from zero with C division:
acc > 0 ? (acc + n/2) / n : (acc - n/2) / n; then clamp to [lo, hi]. Input and output
quantization are assumed equal (TFLite only DCHECKs it).
"""
from __future__ import annotations

import numpy as np

from ..errors import CatrtError
from .common import compute_padding, tap_positions, useful_taps, window_tap


def average_pool_2d(x: np.ndarray, *, filter_size: tuple, stride: tuple, padding: int,
                    activation_min: int, activation_max: int) -> np.ndarray:
    n, h, w, c = x.shape
    fh, fw = filter_size
    sh, sw = stride
    out_h, pad_top = compute_padding(padding, sh, 1, h, fh, "AVERAGE_POOL_2D")
    out_w, pad_left = compute_padding(padding, sw, 1, w, fw, "AVERAGE_POOL_2D")
    values = x.astype(np.int64)
    total = np.zeros((n, out_h, out_w, c), dtype=np.int64)
    count = np.zeros((1, out_h, out_w, 1), dtype=np.int64)
    for ky in useful_taps(fh, 1, out_h, sh, pad_top, h):
        _, row_ok = tap_positions(ky, out_h, sh, pad_top, h)
        for kx in useful_taps(fw, 1, out_w, sw, pad_left, w):
            _, col_ok = tap_positions(kx, out_w, sw, pad_left, w)
            total += window_tap(values, ky, kx, out_h, out_w, stride, pad_top, pad_left, 0)
            count += np.outer(row_ok, col_ok)[None, :, :, None]
    if np.any(count == 0):
        raise CatrtError("AVERAGE_POOL_2D: a pooling window lies entirely in the padding")
    half = count // 2
    positive = (total + half) // count
    non_positive = -((half - total) // count)  # C truncation of (total - half) / count
    out = np.where(total > 0, positive, non_positive)
    return np.clip(out, activation_min, activation_max).astype(np.int8)
