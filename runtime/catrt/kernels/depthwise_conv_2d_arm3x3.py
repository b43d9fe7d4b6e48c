"""DEPTHWISE_CONV_2D on aarch64: the NEON 3x3 kernel of optimized_integer_ops (integer_ops/
depthwise_conv.h DepthwiseConvWithRounding -> depthwise_conv_3x3_filter.h
DepthwiseConv3x3FilterPerChannel<kUpward>, built only for __aarch64__).

When it is taken (fast_3x3_supported, depthwiseconv_3x3_filter_common.h
Fast3x3FilterKernelSupported: 3x3, depth multiplier 1, channels a multiple of 8, equal strides of
1 or 2, equal paddings of 0 or 1, no dilation, and boundary conditions; the per-channel shifts are
not checked, output_shift is passed as 0), its output stage is
    y = sqxtn(sqadd(sqxtn(sqrshl(sqrdmulh(acc, M[c]), shift[c])), z_out)), clamped to [lo, hi]
i.e. SRDHM first, then the shift: a rounding right shift (ties up) for shift <= 0, a saturating
LEFT shift applied after the multiply for shift > 0 (where the other kernels shift before it).
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import INT32_MAX, INT32_MIN, srdhm
from .common import compute_padding


def fast_3x3_supported(input_shape, filter_shape, output_shape, stride: tuple, dilation: tuple,
                       padding: int) -> bool:
    """output_shape is ignored beyond its batch: like TFLite's Prepare (which resizes the output),
    the output size is computed from the input, filter, stride and padding."""
    _, in_h, in_w, in_c = input_shape
    _, f_h, f_w, out_c = filter_shape
    out_h, _ = compute_padding(padding, stride[0], dilation[0], in_h, f_h)
    out_w, _ = compute_padding(padding, stride[1], dilation[1], in_w, f_w)
    if in_c <= 0 or out_c != in_c:          # depth multiplier 1
        return False
    stride_h, stride_w = stride
    _, pad_h = compute_padding(padding, stride_h, dilation[0], in_h, f_h)
    _, pad_w = compute_padding(padding, stride_w, dilation[1], in_w, f_w)
    supported = (f_w == 3 and f_h == 3 and stride_w in (1, 2) and stride_h in (1, 2)
                 and stride_w == stride_h and pad_w in (0, 1) and pad_h in (0, 1) and pad_w == pad_h
                 and in_c % 8 == 0 and tuple(dilation) == (1, 1))
    if not supported:
        return False
    in_x_end = (out_w - 1) * stride_w - pad_w + f_w
    in_y_end = (out_h - 1) * stride_h - pad_h + f_h
    if pad_w == 0 and pad_h == 0:
        return in_x_end <= in_w and in_y_end <= in_h
    if not (in_x_end <= in_w + 1 and in_y_end <= in_h + 1):
        return False
    if in_w == 1 or in_h == 1:
        return in_w == in_h
    return True


def requantize_3x3(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, output_zero_point: int,
                   activation_min: int, activation_max: int) -> np.ndarray:
    high = np.asarray(srdhm(acc, multiplier), dtype=np.int64)
    s = np.broadcast_to(np.asarray(shift, dtype=np.int64), high.shape)
    left = np.clip(high << np.clip(s, 0, 32), INT32_MIN, INT32_MAX)          # sqrshl, shift > 0
    right_count = np.clip(-s, 0, 63)
    nudge = np.where(right_count > 0, np.int64(1) << np.maximum(right_count - 1, 0), 0)
    right = (high + nudge) >> right_count                                      # shift <= 0
    y = np.where(s > 0, left, right)
    y = np.clip(np.clip(y, -32768, 32767) + int(output_zero_point), -32768, 32767)
    return np.clip(np.clip(y, -128, 127), activation_min, activation_max).astype(np.int8)
