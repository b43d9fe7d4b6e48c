"""CONV_2D int8: reference_integer_ops::ConvPerChannel (reference/integer_ops/conv.h), §2.2.

acc[n,y,x,oc] = sum_{ky,kx,ic} w[oc,ky,kx,ic] * (in[n, y*s+ky*d-pad, x*s+kx*d-pad, g*ICf+ic] - z_in)
                + bias[oc], out-of-image taps skipped (= padding with z_in);
out = clamp(MultiplyByQuantizedMultiplier(acc, M[oc], shift[oc]) + z_out, lo, hi).
Grouped conv: groups = IC / ICf, output channel oc belongs to group oc // (OC / groups).
Computed as im2col + exact matmul (see kernels/common.py for the int32 wrap semantics).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import CatrtError
from .common import compute_padding, im2col_matmul, max_abs, requantize


def conv_2d_accumulate(x: np.ndarray, filters: np.ndarray, bias: Optional[np.ndarray], *,
                       input_zero_point: int, stride: tuple, dilation: tuple, padding: int,
                       what: str = "CONV_2D") -> np.ndarray:
    """The int32 accumulators (exact int64, not yet wrapped), shape (N, OH, OW, OC)."""
    n, h, w, c = x.shape
    oc, kh, kw, icf = filters.shape
    if icf <= 0 or c % icf:
        raise CatrtError(f"{what}: input channels {c} are not a multiple of filter channels {icf}")
    groups = c // icf
    if oc % groups:
        raise CatrtError(f"{what}: output channels {oc} are not a multiple of groups {groups}")
    stride_h, stride_w = stride
    dilation_h, dilation_w = dilation
    out_h, pad_top = compute_padding(padding, stride_h, dilation_h, h, kh, what)
    out_w, pad_left = compute_padding(padding, stride_w, dilation_w, w, kw, what)
    bound = kh * kw * icf * max_abs(filters) * (128.0 + abs(int(input_zero_point)))
    dtype = np.float64 if bound < 2.0 ** 53 else np.int64
    x_offset = x.astype(dtype) - dtype(input_zero_point)
    oc_per_group = oc // groups
    acc = np.empty((n, out_h, out_w, oc), dtype=np.int64)
    for g in range(groups):
        group_filters = filters[g * oc_per_group:(g + 1) * oc_per_group]
        matrix = group_filters.reshape(oc_per_group, kh * kw * icf).T.astype(dtype, copy=False)
        acc[..., g * oc_per_group:(g + 1) * oc_per_group] = im2col_matmul(
            x_offset[..., g * icf:(g + 1) * icf], matrix, kh, kw, out_h, out_w, stride, dilation,
            pad_top, pad_left, bound)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return acc


def conv_2d(x: np.ndarray, filters: np.ndarray, bias: Optional[np.ndarray], *,
            input_zero_point: int, stride: tuple, dilation: tuple, padding: int,
            multiplier: np.ndarray, shift: np.ndarray, output_zero_point: int,
            activation_min: int, activation_max: int, rounding: str) -> np.ndarray:
    """int8 NHWC x, filters [OC, KH, KW, ICf], int32 bias [OC] -> int8 NHWC output."""
    acc = conv_2d_accumulate(x, filters, bias, input_zero_point=input_zero_point, stride=stride,
                             dilation=dilation, padding=padding)
    return requantize(acc, multiplier, shift, output_zero_point, activation_min, activation_max,
                      rounding)
