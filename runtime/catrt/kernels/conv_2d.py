"""CONV_2D int8: reference_integer_ops::ConvPerChannel (reference/integer_ops/conv.h), §2.2.

acc[n,y,x,oc] = sum_{ky,kx,ic} w[oc,ky,kx,ic] * (in[n, y*s+ky*d-pad, x*s+kx*d-pad, g*ICf+ic] - z_in)
                + bias[oc], out-of-image taps skipped (= padding with z_in);
out = clamp(MultiplyByQuantizedMultiplier(acc, M[oc], shift[oc]) + z_out, lo, hi).
Grouped conv: groups = IC / ICf, output channel oc belongs to group oc // (OC / groups).
Computed as im2col + exact matmul (see kernels/common.py for the int32 wrap semantics), in
blocks of output rows: each block's im2col matrix (float32 while the depth times max|w| times
max|x - z_in| is below 2^24, else float64), its GEMM, the bias and the float64 requantization
stay in cache, and no accumulator array of the whole batch is ever formed.
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from ..errors import CatrtError
from .common import (BLOCK_ELEMENTS, compute_padding, float_requantizer, im2col_matmul,
                     input_bound, max_abs, offset_window, output_blocks, patches, requantize,
                     sum_dtype, useful_taps)

GEMM_ROWS = 512


def _geometry(x_shape, filter_shape, stride, dilation, padding, what):
    n, h, w, c = x_shape
    oc, kh, kw, icf = filter_shape
    if icf <= 0 or c % icf:
        raise CatrtError(f"{what}: input channels {c} are not a multiple of filter channels {icf}")
    groups = c // icf
    if oc % groups:
        raise CatrtError(f"{what}: output channels {oc} are not a multiple of groups {groups}")
    out_h, pad_top = compute_padding(padding, stride[0], dilation[0], h, kh, what)
    out_w, pad_left = compute_padding(padding, stride[1], dilation[1], w, kw, what)
    return groups, out_h, out_w, pad_top, pad_left


def _accumulator_blocks(x: np.ndarray, filters: np.ndarray, bias: Optional[np.ndarray],
                        input_zero_point: int, stride: tuple, dilation: tuple, groups: int,
                        out_h: int, out_w: int, pad_top: int, pad_left: int
                        ) -> Iterator[tuple[tuple, np.ndarray]]:
    """((n0, n1, y0, y1), float64 accumulators + bias of that output block as rows
    [(n1 - n0) * (y1 - y0) * out_w, OC]); exact (see the module docstring).

    Only the filter taps that reach the image for some output position are used (the others
    read padding only and add 0)."""
    n, h, w, _ = x.shape
    oc, kh, kw, icf = filters.shape
    taps_y = useful_taps(kh, dilation[0], out_h, stride[0], pad_top, h)
    taps_x = useful_taps(kw, dilation[1], out_w, stride[1], pad_left, w)
    used = filters[:, taps_y.start:taps_y.stop, taps_x.start:taps_x.stop, :]
    depth = len(taps_y) * len(taps_x) * icf
    dtype = sum_dtype(depth * max_abs(used) * input_bound(input_zero_point))
    oc_per_group = oc // groups
    matrices = [used[g * oc_per_group:(g + 1) * oc_per_group].reshape(oc_per_group, depth).T
                .astype(dtype) for g in range(groups)]
    bias_f = (np.zeros(oc) if bias is None else np.asarray(bias, dtype=np.int64)).astype(np.float64)
    bias_row = np.tile(bias_f, out_w)
    pointwise = (len(taps_y) == 1 and len(taps_x) == 1 and stride == (1, 1) and pad_top == 0
                 and pad_left == 0 and out_h == h and out_w == w and taps_y.start == 0
                 and taps_x.start == 0)
    width = max(oc, depth, 1)
    # at least GEMM_ROWS rows per GEMM: each block reads the whole filter matrix again
    for n0, n1, y0, y1 in output_blocks(n, out_h, out_w * width, max(BLOCK_ELEMENTS, GEMM_ROWS * width)):
        rows = y1 - y0
        if depth == 0:   # every tap reads padding only
            yield (n0, n1, y0, y1), np.broadcast_to(bias_f, ((n1 - n0) * rows * out_w, oc)).copy()
            continue
        if pointwise:
            window = offset_window(x, n0, n1, y0, rows, 0, w, input_zero_point, dtype)
        else:
            row0 = y0 * stride[0] - pad_top + taps_y.start * dilation[0]
            col0 = -pad_left + taps_x.start * dilation[1]
            window = offset_window(x, n0, n1, row0, (rows - 1) * stride[0] + (len(taps_y) - 1)
                                   * dilation[0] + 1, col0, (out_w - 1) * stride[1]
                                   + (len(taps_x) - 1) * dilation[1] + 1, input_zero_point, dtype)
        acc = np.empty(((n1 - n0) * rows * out_w, oc), dtype=np.float64)
        for g in range(groups):
            part = window[..., g * icf:(g + 1) * icf] if groups > 1 else window
            cols = (part.reshape(-1, icf) if pointwise else
                    patches(part, len(taps_y), len(taps_x), rows, out_w, stride, dilation))
            if groups == 1:   # + bias over rows of out_w pixels (NumPy's inner loop: a whole row)
                np.add((cols @ matrices[0]).reshape(-1, out_w * oc), bias_row,
                       out=acc.reshape(-1, out_w * oc))
            else:
                np.add(cols @ matrices[g], bias_f[g * oc_per_group:(g + 1) * oc_per_group],
                       out=acc[:, g * oc_per_group:(g + 1) * oc_per_group])
        yield (n0, n1, y0, y1), acc


def conv_2d_accumulate(x: np.ndarray, filters: np.ndarray, bias: Optional[np.ndarray], *,
                       input_zero_point: int, stride: tuple, dilation: tuple, padding: int,
                       what: str = "CONV_2D") -> np.ndarray:
    """The int32 accumulators (exact int64, not yet wrapped), shape (N, OH, OW, OC)."""
    n, h, w, c = x.shape
    oc, kh, kw, icf = filters.shape
    groups, out_h, out_w, pad_top, pad_left = _geometry(x.shape, filters.shape, stride, dilation,
                                                        padding, what)
    acc = np.empty((n, out_h, out_w, oc), dtype=np.int64)
    bound = kh * kw * icf * max_abs(filters) * input_bound(input_zero_point)
    if sum_dtype(bound) is not np.int64:
        for (n0, n1, y0, y1), block in _accumulator_blocks(
                x, filters, bias, input_zero_point, tuple(stride), tuple(dilation), groups, out_h,
                out_w, pad_top, pad_left):
            acc[n0:n1, y0:y1] = block.reshape(n1 - n0, y1 - y0, out_w, oc)
        return acc
    x_offset = x.astype(np.int64) - np.int64(input_zero_point)
    oc_per_group = oc // groups
    for g in range(groups):
        group_filters = filters[g * oc_per_group:(g + 1) * oc_per_group]
        matrix = group_filters.reshape(oc_per_group, kh * kw * icf).T.astype(np.int64)
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
    n = x.shape[0]
    oc, kh, kw, icf = filters.shape
    groups, out_h, out_w, pad_top, pad_left = _geometry(x.shape, filters.shape, stride, dilation,
                                                        padding, "CONV_2D")
    bound = kh * kw * icf * max_abs(filters) * input_bound(input_zero_point)
    fast = float_requantizer(multiplier, shift, rounding, output_zero_point, activation_min,
                             activation_max, bound + (0.0 if bias is None else max_abs(bias)))
    if fast is None or sum_dtype(bound) is np.int64:
        acc = conv_2d_accumulate(x, filters, bias, input_zero_point=input_zero_point,
                                 stride=stride, dilation=dilation, padding=padding)
        return requantize(acc, multiplier, shift, output_zero_point, activation_min,
                          activation_max, rounding)
    out = np.empty((n, out_h, out_w * oc), dtype=np.int8)
    fast = fast.tiled(out_w)
    for (n0, n1, y0, y1), block in _accumulator_blocks(
            x, filters, bias, input_zero_point, tuple(stride), tuple(dilation), groups, out_h,
            out_w, pad_top, pad_left):
        fast.apply_inplace(block.reshape(n1 - n0, y1 - y0, out_w * oc), out[n0:n1, y0:y1])
    return out.reshape(n, out_h, out_w, oc)
