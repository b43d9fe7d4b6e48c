"""AVERAGE_POOL_2D int8: reference_integer_ops::AveragePool (reference/integer_ops/pooling.h),
§2.7.

Sum of raw int8 values over the window clipped to the image (padding cells not counted),
divided by the number n of valid cells rounding half away from zero with C division:
acc > 0 ? (acc + n/2) / n : (acc - n/2) / n; then clamp to [lo, hi]. Input and output
quantization are assumed equal (TFLite only DCHECKs it).

The window of output (oy, ox) covers the image rows [y0, y1) = clip(oy*s - pad + [0, fh), 0, H)
and columns [x0, x1) likewise (pooling.h's filter_y_start / filter_y_end), so n =
(y1 - y0) * (x1 - x0); the sum is taken over a zero-bordered int32 window of a block of output
rows, separably (fw strided adds along the width, then fh along the height; |sum| <= 128 * fh
* fw stays far inside int32 for any filter the input can hold). A 1x1 output (global pooling)
is one sum over the window.
"""
from __future__ import annotations

import numpy as np

from ..errors import CatrtError
from .common import compute_padding, offset_window, output_blocks


def _window_bounds(out_size: int, stride: int, pad_before: int, filter_size: int,
                   in_size: int) -> tuple[np.ndarray, np.ndarray]:
    origin = np.arange(out_size, dtype=np.int64) * stride - pad_before
    return np.clip(origin, 0, in_size), np.clip(origin + filter_size, 0, in_size)


def average_pool_2d(x: np.ndarray, *, filter_size: tuple, stride: tuple, padding: int,
                    activation_min: int, activation_max: int) -> np.ndarray:
    n, h, w, c = x.shape
    fh, fw = filter_size
    sh, sw = stride
    out_h, pad_top = compute_padding(padding, sh, 1, h, fh, "AVERAGE_POOL_2D")
    out_w, pad_left = compute_padding(padding, sw, 1, w, fw, "AVERAGE_POOL_2D")
    y0, y1 = _window_bounds(out_h, sh, pad_top, fh, h)
    x0, x1 = _window_bounds(out_w, sw, pad_left, fw, w)
    count = ((y1 - y0)[:, None] * (x1 - x0)[None, :])[None, :, :, None]
    if np.any(count == 0):
        raise CatrtError("AVERAGE_POOL_2D: a pooling window lies entirely in the padding")
    if out_h == 1 and out_w == 1:
        window = x[:, y0[0]:y1[0], x0[0]:x1[0], :].reshape(n, -1, c)
        total = window.sum(axis=1, dtype=np.int64).reshape(n, 1, 1, c)
    else:
        total = np.empty((n, out_h, out_w, c), dtype=np.int32)
        for n0, n1, r0, r1 in output_blocks(n, out_h, out_w * c):
            rows = r1 - r0
            window = offset_window(x, n0, n1, r0 * sh - pad_top, (rows - 1) * sh + fh, -pad_left,
                                   (out_w - 1) * sw + fw, 0, np.int32)
            across = window[:, :, 0:(out_w - 1) * sw + 1:sw].copy()
            for kx in range(1, fw):
                across += window[:, :, kx:kx + (out_w - 1) * sw + 1:sw]
            block = total[n0:n1, r0:r1]
            np.copyto(block, across[:, 0:(rows - 1) * sh + 1:sh])
            for ky in range(1, fh):
                block += across[:, ky:ky + (rows - 1) * sh + 1:sh]
    # (acc + n/2) / n for acc > 0 and (acc - n/2) / n otherwise (C truncation) are both
    # sign(acc) * floor((|acc| + n/2) / n). In float64 the quotient q of two integers below 2^50
    # is correctly rounded; when it is not an integer it lies at least 1/n below the next one,
    # far more than its rounding error, so floor(q) is exact.
    quotient = np.abs(total).astype(np.float64)
    quotient += count // 2
    quotient /= count
    np.floor(quotient, out=quotient)
    np.copysign(quotient, total, out=quotient)
    np.clip(quotient, activation_min, activation_max, out=quotient)
    return quotient.astype(np.int8)
