"""Helpers shared by the integer kernels: padding, exact integer matmul, requantization.

Accumulator semantics: TFLite accumulates in int32 and relies on two's-complement wrap (no
overflow guard). catrt computes the exact sum (float64 BLAS when every partial sum is an integer
below 2^53, else int64, which is exact modulo 2^64) and wraps the result to int32 once; since
wrapping commutes with + and *, that equals the C result for any data. For int8 data the sums
fit int32 anyway while the depth is below 65793 (|w| <= 128, |x - z_in| <= 255).
"""
from __future__ import annotations

import numpy as np

from ..errors import CatrtError
from ..fixed_point import multiply_by_quantized_multiplier, wrap_int32

PADDING_SAME = 0
PADDING_VALID = 1
PADDING_NAMES = {PADDING_SAME: "SAME", PADDING_VALID: "VALID"}
_EXACT_FLOAT64 = float(2 ** 53)
_CHUNK_ELEMENTS = 1 << 22  # im2col elements per chunk (32 MiB of float64)


def _c_div(a: int, b: int) -> int:
    """C integer division (truncation toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def compute_padding(padding: int, stride: int, dilation: int, in_size: int, filter_size: int,
                    what: str = "op") -> tuple[int, int]:
    """kernels/padding.h ComputeOutSize + ComputePadding -> (out_size, pad_before).

    The odd extra padding cell, if any, goes after (bottom/right).
    """
    if stride <= 0 or dilation <= 0:
        raise CatrtError(f"{what}: stride {stride} and dilation {dilation} must be positive")
    effective = (filter_size - 1) * dilation + 1
    if padding == PADDING_SAME:
        out = _c_div(in_size + stride - 1, stride)
    elif padding == PADDING_VALID:
        out = _c_div(in_size + stride - effective, stride)
    else:
        raise CatrtError(f"{what}: unknown padding code {padding}")
    if out <= 0:
        raise CatrtError(f"{what}: empty output (input {in_size}, filter {filter_size}, "
                         f"stride {stride}, dilation {dilation}, {PADDING_NAMES[padding]})")
    pad = max(_c_div((out - 1) * stride + effective - in_size, 2), 0)
    return out, pad


def tap_positions(offset: int, out_size: int, stride: int, pad_before: int,
                  in_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Input coordinates read by one filter tap for every output position, and which of them lie
    inside the image (taps outside are skipped by TFLite, i.e. read as padding)."""
    coords = offset + np.arange(out_size, dtype=np.int64) * stride - pad_before
    return coords, (coords >= 0) & (coords < in_size)


def window_tap(x: np.ndarray, ky: int, kx: int, out_h: int, out_w: int, stride: tuple,
               pad_top: int, pad_left: int, fill) -> np.ndarray:
    """(N, out_h, out_w, C) values of NHWC `x` at filter offset (ky, kx) (dilation already
    applied to the offsets); positions outside the image read `fill`. No padded copy of the
    input is ever made, so memory stays proportional to the output."""
    _, h, w, _ = x.shape
    rows, row_ok = tap_positions(ky, out_h, stride[0], pad_top, h)
    cols, col_ok = tap_positions(kx, out_w, stride[1], pad_left, w)
    if row_ok.all() and col_ok.all():
        return x[:, rows[0]:rows[-1] + 1:stride[0], cols[0]:cols[-1] + 1:stride[1], :]
    patch = x[:, np.clip(rows, 0, h - 1)][:, :, np.clip(cols, 0, w - 1)]
    patch[:, ~row_ok] = fill
    patch[:, :, ~col_ok] = fill
    return patch


def useful_taps(size: int, dilation: int, out_size: int, stride: int, pad_before: int,
                in_size: int) -> range:
    """A small superset of the filter indices k whose taps k*dilation + o*stride - pad reach the
    image for some output position o, in closed form (a huge filter never loops over empty taps);
    taps that still fall outside for some o are handled by window_tap."""
    first = -pad_before                              # o = 0
    last = (out_size - 1) * stride - pad_before      # o = out_size - 1
    low = max(0, -(last // dilation))                # smallest k with k*d + last >= 0
    high = min(size - 1, (in_size - 1 - first) // dilation)
    return range(low, high + 1)


def exact_matmul(lhs: np.ndarray, rhs: np.ndarray, bound: float) -> np.ndarray:
    """Integer-valued lhs @ rhs as int64, exactly. `bound` >= max |partial sum| decides whether
    float64 BLAS is exact (bound < 2^53); otherwise int64 matmul (exact modulo 2^64)."""
    if bound < _EXACT_FLOAT64:
        product = np.asarray(lhs, dtype=np.float64) @ np.asarray(rhs, dtype=np.float64)
        return product.astype(np.int64)
    return np.asarray(lhs, dtype=np.int64) @ np.asarray(rhs, dtype=np.int64)


def max_abs(a: np.ndarray) -> float:
    return float(np.max(np.abs(a))) if a.size else 0.0


def im2col_matmul(x_offset: np.ndarray, filter_matrix: np.ndarray, kh: int, kw: int,
                  out_h: int, out_w: int, stride: tuple, dilation: tuple, pad_top: int,
                  pad_left: int, bound: float) -> np.ndarray:
    """Sum over taps of x_offset windows times filters: (N, out_h, out_w, OC) int64.

    x_offset: (N, H, W, C) integer-valued array already minus the input zero point, so taps
    outside the image read 0; filter_matrix: (kh*kw*C, OC) with rows ordered (ky, kx, c) like a
    [OC, KH, KW, C] filter.
    """
    n, _, _, c = x_offset.shape
    k = kh * kw * c
    oc = filter_matrix.shape[1]
    out = np.empty((n, out_h, out_w, oc), dtype=np.int64)
    per_image = out_h * out_w * k
    step = max(1, _CHUNK_ELEMENTS // max(per_image, 1))
    dtype = np.float64 if bound < _EXACT_FLOAT64 else np.int64
    for b0 in range(0, n, step):
        b1 = min(n, b0 + step)
        part = x_offset[b0:b1]
        cols = np.empty((b1 - b0, out_h, out_w, kh, kw, c), dtype=dtype)
        for ky in range(kh):
            for kx in range(kw):
                cols[:, :, :, ky, kx, :] = window_tap(part, ky * dilation[0], kx * dilation[1],
                                                      out_h, out_w, stride, pad_top, pad_left, 0)
        out[b0:b1] = exact_matmul(cols.reshape(-1, k), filter_matrix, bound).reshape(
            b1 - b0, out_h, out_w, oc)
    return out


def requantize(acc: np.ndarray, multiplier, shift, output_zero_point: int, activation_min: int,
               activation_max: int, rounding: str, out_dtype=np.int8) -> np.ndarray:
    """clamp(MultiplyByQuantizedMultiplier(wrap32(acc), M, shift) + z_out, lo, hi)."""
    scaled = multiply_by_quantized_multiplier(wrap_int32(acc), multiplier, shift, rounding)
    out = wrap_int32(np.asarray(scaled) + int(output_zero_point))
    return np.clip(out, activation_min, activation_max).astype(out_dtype)
