"""Helpers shared by the integer kernels: padding, exact integer matmul, requantization.

Accumulator semantics: TFLite accumulates in int32 and relies on two's-complement wrap (no
overflow guard). catrt computes the exact sum (float64 BLAS when every partial sum is an integer
below 2^53, else int64, which is exact modulo 2^64) and wraps the result to int32 once; since
wrapping commutes with + and *, that equals the C result for any data. For int8 data the sums
fit int32 anyway while the depth is below 65793 (|w| <= 128, |x - z_in| <= 255).

Fast exact paths (conv, depthwise, fully connected). A sum of integer products is computed in
float32 when B = (number of products) * max|w| * max|x - z_in| < 2^24 and in float64 when
B < 2^53: every partial sum that any summation order (BLAS blocking, FMA) forms is an integer of
magnitude <= B, hence representable, so every addition and FMA is exact and the result is the
exact integer sum. The requantization then runs in float64 (FloatRequantizer) when it is exact
too, else through the int64 formula of fixed_point.py. The work is done in blocks of output rows
small enough to stay in cache, which also bounds the temporaries of a large batch (224x224).
"""
from __future__ import annotations

import numpy as np

from dataclasses import dataclass
from typing import Iterator, Optional

from ..errors import CatrtError
from ..fixed_point import (DR_AWAY, DR_UP, INT32_MIN, SR_UP, multiply_by_quantized_multiplier,
                           wrap_int32)

PADDING_SAME = 0
PADDING_VALID = 1
PADDING_NAMES = {PADDING_SAME: "SAME", PADDING_VALID: "VALID"}
_EXACT_FLOAT64 = float(2 ** 53)
_EXACT_FLOAT32 = float(2 ** 24)
BLOCK_ELEMENTS = 1 << 16   # accumulators per block of the fast paths (512 KiB of float64)
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
               activation_max: int, rounding: str, out_dtype=np.int8,
               bound: Optional[float] = None) -> np.ndarray:
    """clamp(MultiplyByQuantizedMultiplier(wrap32(acc), M, shift) + z_out, lo, hi).

    `bound` >= max |acc| when the caller knows one (else it is measured); with it the float64
    path of FloatRequantizer is taken whenever that is exact, else the int64 formula."""
    acc = np.asarray(acc)
    if np.dtype(out_dtype) == np.int8 and acc.ndim and acc.size:
        limit = max_abs(acc) if bound is None else float(bound)
        fast = float_requantizer(multiplier, shift, rounding, output_zero_point, activation_min,
                                 activation_max, limit)
        if fast is not None:
            return fast.apply(acc)
    return requantize_int64(acc, multiplier, shift, output_zero_point, activation_min,
                            activation_max, rounding, out_dtype)


def requantize_int64(acc: np.ndarray, multiplier, shift, output_zero_point: int,
                     activation_min: int, activation_max: int, rounding: str,
                     out_dtype=np.int8) -> np.ndarray:
    """requantize by the int64 formulas of fixed_point.py (any accumulator, any shift)."""
    scaled = multiply_by_quantized_multiplier(wrap_int32(acc), multiplier, shift, rounding)
    out = wrap_int32(np.asarray(scaled) + int(output_zero_point))
    return np.clip(out, activation_min, activation_max).astype(out_dtype)


# -- fast exact paths ---------------------------------------------------------------------------

def input_bound(zero_point: int) -> float:
    """max |x - zero_point| over int8 x."""
    z = int(zero_point)
    return float(max(127 - z, z + 128))


def sum_dtype(bound: float):
    """The cheapest dtype in which sums of integer products with all partial sums <= bound are
    exact: float32 below 2^24, float64 below 2^53, else int64 (exact modulo 2^64)."""
    if bound < _EXACT_FLOAT32:
        return np.float32
    if bound < _EXACT_FLOAT64:
        return np.float64
    return np.int64


@dataclass(frozen=True)
class FloatRequantizer:
    """MultiplyByQuantizedMultiplier + z_out + clamp, exact for |acc| <= the bound it was built
    for (see float_requantizer): the high multiply in float64, the rest in int32.

    With l = max(shift, 0), r = max(-shift, 0):
      double rounding (dr_away, dr_up): high = SRDHM(acc * 2^l, M) = floor(acc * (M * 2^(l - 31)) + 1/2)
      single rounding (sr_up): result = (acc * M + 2^(30 - shift)) >> (31 - shift)
                                      = floor(acc * (M * 2^(shift - 31)) + 1/2)
    The product by a power of two is exact and the floor's argument is k / 2^31 with k an integer
    below 2^53 (guaranteed by the bound), hence exactly representable: the floor is the integer
    formula's value, and |high| <= 2^21 + 1. Then in int32 (arithmetic shifts):
      dr_away: RoundingDivideByPOT(high, r) = (high + (high >> 31 if r > 0) + 2^(r-1)) >> r
      dr_up:   (high + 2^(r-1)) >> r          (2^(r-1) read as 0 for r = 0)
    z_out is added as z_out * 2^r before the shift where that cannot overflow int32. No int32
    wrap of the accumulator happens since |acc * 2^l| < 2^31.
    """

    scale: np.ndarray               # float64, M * 2^(l - 31) (double) or M * 2^(shift - 31) (single)
    right: Optional[np.ndarray]     # int32 r (double rounding with some r > 0), else None
    nudge: Optional[np.ndarray]     # int32 2^(r-1) (+ z_out * 2^r when folded)
    sign_mask: Optional[np.ndarray]  # int32 -1 where r > 0, 0 where r = 0 (dr_away; None: all r > 0)
    zero_point_after: int           # z_out when not folded into nudge, else 0
    rounding: str
    activation_min: int
    activation_max: int

    def apply_inplace(self, acc: np.ndarray, out: np.ndarray) -> None:
        """Requantize float64 `acc` (overwritten) into the int8 array `out` of the same shape."""
        np.multiply(acc, self.scale, out=acc)
        acc += 0.5
        np.floor(acc, out=acc)
        high = acc.astype(np.int32)
        if self.right is not None:
            if self.rounding == DR_AWAY:
                negative = high >> 31
                if self.sign_mask is not None:
                    negative &= self.sign_mask
                high += negative
            high += self.nudge
            np.right_shift(high, self.right, out=high)
        if self.zero_point_after:
            high += self.zero_point_after
        np.clip(high, self.activation_min, self.activation_max, out=high)
        np.copyto(out, high, casting="unsafe")

    def tiled(self, reps: int) -> "FloatRequantizer":
        """The same requantizer for rows of `reps` pixels times C channels (per-channel values
        repeated): NumPy then loops over whole rows instead of C elements at a time."""
        def tile(a):
            return a if a is None or a.size == 1 or reps == 1 else np.tile(a, reps)
        return FloatRequantizer(tile(self.scale), tile(self.right), tile(self.nudge),
                                tile(self.sign_mask), self.zero_point_after, self.rounding,
                                self.activation_min, self.activation_max)

    def apply(self, acc: np.ndarray) -> np.ndarray:
        """int8 array of acc's shape (acc: any integer-valued array), in cache-sized blocks."""
        out = np.empty(acc.shape, dtype=np.int8)
        rows = acc.reshape(-1, acc.shape[-1])
        out_rows = out.reshape(rows.shape)
        step = max(1, BLOCK_ELEMENTS // max(rows.shape[1], 1))
        for r0 in range(0, rows.shape[0], step):
            block = rows[r0:r0 + step].astype(np.float64)
            self.apply_inplace(block, out_rows[r0:r0 + step])
        return out


def float_requantizer(multiplier, shift, rounding: str, output_zero_point: int, activation_min: int,
                      activation_max: int, bound: float) -> Optional[FloatRequantizer]:
    """A FloatRequantizer exact for every |acc| <= bound, or None where that is not provable
    (then the int64 formula, which also raises on invalid shifts, must be used).

    Conditions (checked per channel, with a factor-2 margin for the float rounding of the check
    itself): double rounding: 0 <= r <= 31, M != INT32_MIN, bound * 2^l < 2^31 (no int32 wrap)
    and bound * 2^l * |M| <= 2^52 (so the SRDHM numerator acc * 2^l * M + 2^30 < 2^53);
    single rounding: -31 <= shift <= 30, 31 - shift <= 51, bound < 2^31, bound * |M| <= 2^51."""
    if rounding not in (DR_AWAY, DR_UP, SR_UP) or not np.isfinite(bound):
        return None
    m = np.atleast_1d(np.asarray(multiplier, dtype=np.int64))
    s = np.atleast_1d(np.asarray(shift, dtype=np.int64))
    if m.ndim != 1 or s.ndim != 1:
        return None
    m, s = np.broadcast_arrays(m, s)
    magnitude = np.abs(m).astype(np.float64)
    z = int(output_zero_point)
    if abs(z) > 2 ** 20:
        return None
    lo, hi = int(activation_min), int(activation_max)
    if rounding == SR_UP:
        total = 31 - s
        if np.any(s < -31) or np.any(s > 30) or np.any(total > 51):
            return None
        if bound >= 2.0 ** 31 or np.any(bound * magnitude > 2.0 ** 51):
            return None
        return FloatRequantizer(m * np.exp2(-total.astype(np.float64)), None, None, None, z,
                                rounding, lo, hi)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    if np.any(right > 31) or np.any(m == INT32_MIN):
        return None
    shifted = bound * np.exp2(left.astype(np.float64))
    if np.any(shifted >= 2.0 ** 31) or np.any(shifted * magnitude > 2.0 ** 52):
        return None
    scale = m * np.exp2((left - 31).astype(np.float64))
    if not np.any(right > 0):
        return FloatRequantizer(scale, None, None, None, z, rounding, lo, hi)
    nudge = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    folded = nudge + (np.int64(z) << right)
    # |high| <= 2^21 + 1; the folded nudge must keep high + nudge (+ the sign term) in int32
    fold = bool(np.all(np.abs(folded) + 2 ** 22 < 2 ** 31))
    sign_mask = None
    if rounding == DR_AWAY and np.any(right == 0):
        sign_mask = np.where(right > 0, -1, 0).astype(np.int32)
    return FloatRequantizer(scale, right.astype(np.int32), (folded if fold else nudge).astype(np.int32),
                            sign_mask, 0 if fold else z, rounding, lo, hi)


def output_blocks(n: int, out_h: int, row_elements: int,
                  target: int = BLOCK_ELEMENTS) -> Iterator[tuple[int, int, int, int]]:
    """(n0, n1, y0, y1) blocks of the output: whole images while one image is below `target`
    elements (row_elements = out_w * channels), else row ranges of one image."""
    per_image = out_h * row_elements
    if per_image <= target:
        step = max(1, target // max(per_image, 1))
        for n0 in range(0, n, step):
            yield n0, min(n, n0 + step), 0, out_h
        return
    rows = max(1, target // max(row_elements, 1))
    for n0 in range(n):
        for y0 in range(0, out_h, rows):
            yield n0, n0 + 1, y0, min(out_h, y0 + rows)


def offset_window(x: np.ndarray, n0: int, n1: int, row0: int, rows: int, col0: int, cols: int,
                  zero_point: int, dtype) -> np.ndarray:
    """(n1 - n0, rows, cols, C) array of x[n, row0 + i, col0 + j, :] - zero_point, 0 where the
    position lies outside the image (TFLite skips those taps, i.e. they add nothing)."""
    _, h, w, c = x.shape
    out = np.zeros((n1 - n0, rows, cols, c), dtype=dtype)
    r_lo, r_hi = max(row0, 0), min(row0 + rows, h)
    c_lo, c_hi = max(col0, 0), min(col0 + cols, w)
    if r_lo < r_hi and c_lo < c_hi:
        np.subtract(x[n0:n1, r_lo:r_hi, c_lo:c_hi, :], dtype(zero_point),
                    out=out[:, r_lo - row0:r_hi - row0, c_lo - col0:c_hi - col0, :],
                    dtype=dtype, casting="unsafe")
    return out


def column_phases(window: np.ndarray, stride_w: int) -> list:
    """window[:, :, p::stride_w, :] for each phase p, contiguous (the window itself for stride 1),
    so that every tap reads whole rows of out_w * C contiguous values (see tap_rows)."""
    if stride_w == 1:
        return [window]
    return [np.ascontiguousarray(window[:, :, p::stride_w, :]) for p in range(stride_w)]


def tap_rows(phases: list, ky: int, kx: int, out_rows: int, out_w: int,
             stride: tuple) -> np.ndarray:
    """The (N, out_rows, out_w * C) view of the window read by the tap at offset (ky, kx)
    (relative to the window, dilation applied): window[n, y*sh + ky, x*sw + kx, c] for output
    (y, x), taken from phase kx % sw at column kx // sw + x."""
    phase = phases[kx % stride[1]]
    n, _, _, c = phase.shape
    x0 = kx // stride[1]
    view = phase[:, ky:ky + (out_rows - 1) * stride[0] + 1:stride[0], x0:x0 + out_w, :]
    return view.reshape(n, out_rows, out_w * c)


def patches(window: np.ndarray, taps_h: int, taps_w: int, out_rows: int, out_w: int,
            stride: tuple, dilation: tuple) -> np.ndarray:
    """im2col of a window: (N * out_rows * out_w, taps_h * taps_w * C), columns ordered
    (ky, kx, c) like the rows of a [OC, KH, KW, C] filter reshaped to a matrix."""
    n, _, _, c = window.shape
    sn, sh, sw, sc = window.strides
    view = np.lib.stride_tricks.as_strided(
        window, shape=(n, out_rows, out_w, taps_h, taps_w, c),
        strides=(sn, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1], sc),
        writeable=False)
    return view.reshape(n * out_rows * out_w, taps_h * taps_w * c)
