"""DEPTHWISE_CONV_2D int8: reference_integer_ops::DepthwiseConvPerChannel
(reference/integer_ops/depthwise_conv.h), §2.3.

Filter [1, KH, KW, OC] with OC = IC * dm (dm recomputed from the shapes); output channel
oc = ic * dm + m reads input channel ic. The filter zero point is ignored (as TFLite).
acc = sum_{ky,kx} w[0,ky,kx,oc] * (in[..., ic] - z_in) + bias[oc]; then per-channel requantize.

Computed, for a block of output rows at a time, as the sum over the taps of a strided view of
the zero-bordered input window (x - z_in) times the tap's per-channel weights (repeated along a
row of pixels, so NumPy loops over whole rows): in int16 when KH * KW * max|w| times the
input's measured max|x - z_in| is at most 32767 (every partial sum fits: exact; the common case
for 4-bit activations and weights), else in float32 / float64 while the static bound is below
2^24 / 2^53 (see kernels/common.py), then + bias and the float64 requantization of
kernels/common.py, all on a cache-sized block.
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from ..errors import CatrtError
from .common import (column_phases, compute_padding, float_requantizer, input_bound, max_abs,
                     offset_window, output_blocks, requantize, sum_dtype, tap_rows, useful_taps)


def _geometry(x_shape, filter_shape, stride, dilation, padding, what):
    _, h, w, c = x_shape
    _, kh, kw, oc = filter_shape
    if c <= 0 or oc % c:
        raise CatrtError(f"{what}: filter channels {oc} are not a multiple of input channels {c}")
    out_h, pad_top = compute_padding(padding, stride[0], dilation[0], h, kh, what)
    out_w, pad_left = compute_padding(padding, stride[1], dilation[1], w, kw, what)
    return oc // c, out_h, out_w, pad_top, pad_left


def _accumulator_blocks(x: np.ndarray, filters: np.ndarray, bias: Optional[np.ndarray],
                        input_zero_point: int, stride: tuple, dilation: tuple,
                        depth_multiplier: int, out_h: int, out_w: int, pad_top: int,
                        pad_left: int, dtype) -> Iterator[tuple[tuple, np.ndarray]]:
    """((n0, n1, y0, y1), exact accumulators + bias of that output block, float64 (int64 when
    dtype is int64), shape (n1 - n0, y1 - y0, out_w * OC): each row holds out_w pixels)."""
    n, h, w, _ = x.shape
    _, kh, kw, oc = filters.shape
    taps_y = useful_taps(kh, dilation[0], out_h, stride[0], pad_top, h)
    taps_x = useful_taps(kw, dilation[1], out_w, stride[1], pad_left, w)
    # each tap's per-channel weights repeated over a row of out_w pixels
    weights = np.tile(np.asarray(filters[0], dtype=dtype), (1, 1, out_w))
    acc_dtype = np.int64 if dtype is np.int64 else np.float64
    bias_row = np.tile((np.zeros(oc, dtype=np.int64) if bias is None else
                        np.asarray(bias, dtype=np.int64)).astype(acc_dtype), out_w)
    for n0, n1, y0, y1 in output_blocks(n, out_h, out_w * oc):
        rows = y1 - y0
        if len(taps_y) == 0 or len(taps_x) == 0:
            yield (n0, n1, y0, y1), np.broadcast_to(bias_row, (n1 - n0, rows, out_w * oc)).copy()
            continue
        row0 = y0 * stride[0] - pad_top + taps_y.start * dilation[0]
        col0 = -pad_left + taps_x.start * dilation[1]
        window = offset_window(x, n0, n1, row0, (rows - 1) * stride[0] + (len(taps_y) - 1)
                               * dilation[0] + 1, col0, (out_w - 1) * stride[1]
                               + (len(taps_x) - 1) * dilation[1] + 1, input_zero_point, dtype)
        if depth_multiplier > 1:
            window = np.repeat(window, depth_multiplier, axis=3)
        phases = column_phases(window, stride[1])
        total = np.empty((n1 - n0, rows, out_w * oc), dtype=dtype)
        product = np.empty_like(total)
        first = True
        for ky in taps_y:
            for kx in taps_x:
                view = tap_rows(phases, (ky - taps_y.start) * dilation[0],
                                (kx - taps_x.start) * dilation[1], rows, out_w, stride)
                if first:
                    np.multiply(view, weights[ky, kx], out=total)
                    first = False
                else:
                    np.multiply(view, weights[ky, kx], out=product)
                    total += product
        yield (n0, n1, y0, y1), np.add(total, bias_row, dtype=acc_dtype)


def _sum_dtype(x: np.ndarray, filters: np.ndarray, input_zero_point: int):
    """int16 when every partial sum of the taps fits it for this input (its measured range:
    4-bit activations use 16 codes of the int8 range), else sum_dtype of the static bound."""
    _, kh, kw, _ = filters.shape
    taps_weight = kh * kw * max_abs(filters)
    if x.size:
        z = int(input_zero_point)
        spread = max(abs(int(x.max()) - z), abs(int(x.min()) - z))
        if taps_weight * spread <= np.iinfo(np.int16).max and spread <= np.iinfo(np.int16).max:
            return np.int16
    return sum_dtype(taps_weight * input_bound(input_zero_point))


def depthwise_conv_2d_accumulate(x: np.ndarray, filters: np.ndarray, bias: Optional[np.ndarray], *,
                                 input_zero_point: int, stride: tuple, dilation: tuple,
                                 padding: int, what: str = "DEPTHWISE_CONV_2D") -> np.ndarray:
    """Exact accumulators (int64, int32 wrap applied by the caller), shape (N, OH, OW, OC)."""
    n = x.shape[0]
    _, kh, kw, oc = filters.shape
    depth_multiplier, out_h, out_w, pad_top, pad_left = _geometry(
        x.shape, filters.shape, stride, dilation, padding, what)
    dtype = _sum_dtype(x, filters, input_zero_point)
    acc = np.empty((n, out_h, out_w, oc), dtype=np.int64)
    for (n0, n1, y0, y1), block in _accumulator_blocks(
            x, filters, bias, input_zero_point, tuple(stride), tuple(dilation), depth_multiplier,
            out_h, out_w, pad_top, pad_left, dtype):
        acc[n0:n1, y0:y1] = block.reshape(n1 - n0, y1 - y0, out_w, oc)
    return acc


def depthwise_conv_2d(x: np.ndarray, filters: np.ndarray, bias: Optional[np.ndarray], *,
                      input_zero_point: int, stride: tuple, dilation: tuple, padding: int,
                      multiplier: np.ndarray, shift: np.ndarray, output_zero_point: int,
                      activation_min: int, activation_max: int, rounding: str) -> np.ndarray:
    """int8 NHWC x, filters [1, KH, KW, OC], optional int32 bias [OC] -> int8 NHWC output."""
    n = x.shape[0]
    _, kh, kw, oc = filters.shape
    depth_multiplier, out_h, out_w, pad_top, pad_left = _geometry(
        x.shape, filters.shape, stride, dilation, padding, "DEPTHWISE_CONV_2D")
    bound = kh * kw * max_abs(filters) * input_bound(input_zero_point)
    fast = float_requantizer(multiplier, shift, rounding, output_zero_point, activation_min,
                             activation_max, bound + (0.0 if bias is None else max_abs(bias)))
    dtype = _sum_dtype(x, filters, input_zero_point)
    if fast is None or dtype is np.int64:
        acc = depthwise_conv_2d_accumulate(x, filters, bias, input_zero_point=input_zero_point,
                                           stride=stride, dilation=dilation, padding=padding)
        return requantize(acc, multiplier, shift, output_zero_point, activation_min,
                          activation_max, rounding)
    out = np.empty((n, out_h, out_w * oc), dtype=np.int8)
    fast = fast.tiled(out_w)
    for (n0, n1, y0, y1), block in _accumulator_blocks(
            x, filters, bias, input_zero_point, tuple(stride), tuple(dilation), depth_multiplier,
            out_h, out_w, pad_top, pad_left, dtype):
        fast.apply_inplace(block, out[n0:n1, y0:y1])
    return out.reshape(n, out_h, out_w, oc)
