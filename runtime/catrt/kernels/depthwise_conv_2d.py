"""DEPTHWISE_CONV_2D int8: reference_integer_ops::DepthwiseConvPerChannel
(reference/integer_ops/depthwise_conv.h), §2.3.

Filter [1, KH, KW, OC] with OC = IC * dm (dm recomputed from the shapes); output channel
oc = ic * dm + m reads input channel ic. The filter zero point is ignored (as TFLite).
acc = sum_{ky,kx} w[0,ky,kx,oc] * (in[..., ic] - z_in) + bias[oc]; then per-channel requantize.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import CatrtError
from .common import compute_padding, requantize, useful_taps, window_tap


def depthwise_conv_2d_accumulate(x: np.ndarray, filters: np.ndarray, bias: Optional[np.ndarray], *,
                                 input_zero_point: int, stride: tuple, dilation: tuple,
                                 padding: int, what: str = "DEPTHWISE_CONV_2D") -> np.ndarray:
    """Exact accumulators (int64, int32 wrap applied by the caller), shape (N, OH, OW, OC)."""
    n, h, w, c = x.shape
    _, kh, kw, oc = filters.shape
    if c <= 0 or oc % c:
        raise CatrtError(f"{what}: filter channels {oc} are not a multiple of input channels {c}")
    depth_multiplier = oc // c
    stride_h, stride_w = stride
    dilation_h, dilation_w = dilation
    out_h, pad_top = compute_padding(padding, stride_h, dilation_h, h, kh, what)
    out_w, pad_left = compute_padding(padding, stride_w, dilation_w, w, kw, what)
    x_offset = x.astype(np.int64) - int(input_zero_point)
    weights = np.asarray(filters, dtype=np.int64)
    acc = np.zeros((n, out_h, out_w, oc), dtype=np.int64)
    for ky in useful_taps(kh, dilation_h, out_h, stride_h, pad_top, h):
        for kx in useful_taps(kw, dilation_w, out_w, stride_w, pad_left, w):
            taps = window_tap(x_offset, ky * dilation_h, kx * dilation_w, out_h, out_w, stride,
                              pad_top, pad_left, 0)
            if depth_multiplier > 1:
                taps = np.repeat(taps, depth_multiplier, axis=3)
            acc += taps * weights[0, ky, kx, :]
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return acc


def depthwise_conv_2d(x: np.ndarray, filters: np.ndarray, bias: Optional[np.ndarray], *,
                      input_zero_point: int, stride: tuple, dilation: tuple, padding: int,
                      multiplier: np.ndarray, shift: np.ndarray, output_zero_point: int,
                      activation_min: int, activation_max: int, rounding: str) -> np.ndarray:
    """int8 NHWC x, filters [1, KH, KW, OC], optional int32 bias [OC] -> int8 NHWC output."""
    acc = depthwise_conv_2d_accumulate(x, filters, bias, input_zero_point=input_zero_point,
                                       stride=stride, dilation=dilation, padding=padding)
    return requantize(acc, multiplier, shift, output_zero_point, activation_min, activation_max,
                      rounding)
