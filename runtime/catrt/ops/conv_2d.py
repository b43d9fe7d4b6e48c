"""CONV_2D int8 (conv.cc Prepare + reference ConvPerChannel eval), §2.2."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import CatrtError
from .. import xnnpack
from ..fixed_point import DR_AWAY, quantize_multiplier, wrap_int32
from ..kernels.common import requantize
from ..kernels.conv_2d import conv_2d, conv_2d_accumulate
from ..profiles import Profile
from ..reader import Operator
from .common import (activation_range, check_arity, check_int4_filter, expect_dtype, expect_rank,
                     filter_scales, input_tensor, output_tensor, per_tensor_qparams, tensor_label)


XNNPACK_FP32 = "xnnpack_fp32"


@dataclass(frozen=True)
class Conv2DParams:
    input_zero_point: int
    output_zero_point: int
    stride: tuple
    dilation: tuple
    padding: int
    multiplier: np.ndarray   # int64 [OC]
    shift: np.ndarray        # int64 [OC]
    activation_min: int
    activation_max: int
    rounding: str            # a MultiplyByQuantizedMultiplier rounding, or "xnnpack_fp32"
    xnnpack_scale: Optional[np.ndarray] = None   # float32 [OC], for "xnnpack_fp32"
    gemv_rounding: str = ""  # profile.gemv_rounding, for a GEMM with one destination column
    depth: int = 0           # KH * KW * ICf, the GEMM depth


def per_channel_multipliers(input_scale: float, scales, output_scale: float,
                            channels: int) -> tuple[np.ndarray, np.ndarray]:
    """PopulateConvolutionQuantizationParams: QuantizeMultiplier(double(s_in) * double(s_w[c]) /
    double(s_out)) per output channel, a single filter scale broadcast to all channels."""
    multipliers, shifts = [], []
    for c in range(channels):
        filter_scale = scales[c] if len(scales) > 1 else scales[0]
        m, s = quantize_multiplier(float(input_scale) * float(filter_scale) / float(output_scale))
        multipliers.append(m)
        shifts.append(s)
    return np.asarray(multipliers, dtype=np.int64), np.asarray(shifts, dtype=np.int64)


def prepare(op: Operator, tensors, profile: Profile) -> Conv2DParams:
    check_arity(op, (2, 3))
    x = input_tensor(op, tensors, 0, "input")
    w = input_tensor(op, tensors, 1, "filter")
    out = output_tensor(op, tensors)
    expect_rank(op, x, "input", 4)
    expect_rank(op, w, "filter", 4)
    if w.shape[3] <= 0 or x.shape[3] % w.shape[3]:
        raise CatrtError(f"{op.label}: input channels {x.shape[3]} are not a multiple of filter "
                         f"channels {w.shape[3]}")
    expect_dtype(op, x, "input", ("int8",))
    expect_dtype(op, out, "output", ("int8",))
    expect_dtype(op, w, "filter", ("int8", "int4"))
    check_int4_filter(op, w, profile)
    scales = filter_scales(op, w)
    if any(z != 0 for z in w.quantization.zero_point):
        raise CatrtError(f"{op.label}: filter {tensor_label(w)} has non-zero zero points "
                         f"{sorted(set(w.quantization.zero_point))} (TFLite requires 0)")
    o = op.options
    if o["stride_h"] <= 0 or o["stride_w"] <= 0:
        raise CatrtError(f"{op.label}: strides ({o['stride_h']}, {o['stride_w']}) must be positive")
    if o["dilation_h_factor"] <= 0 or o["dilation_w_factor"] <= 0:
        raise CatrtError(f"{op.label}: dilations must be positive")
    bias = input_tensor(op, tensors, 2, "bias", optional=True)
    if bias is None:
        raise CatrtError(f"{op.label}: CONV_2D needs a bias input (TFLite Prepare: has_bias)")
    expect_dtype(op, bias, "bias", ("int32",))
    if bias.quantization is not None and bias.quantization.legacy_zero_point != 0:
        raise CatrtError(f"{op.label}: bias {tensor_label(bias)} zero point must be 0")
    channels = w.shape[0]
    if int(np.prod(bias.shape)) != channels:
        raise CatrtError(f"{op.label}: bias has {int(np.prod(bias.shape))} elements for "
                         f"{channels} output channels")
    if len(scales) not in (1, channels):
        raise CatrtError(f"{op.label}: filter has {len(scales)} scales for {channels} channels")
    if len(scales) > 1 and w.quantization.quantized_dimension != 0:
        raise CatrtError(f"{op.label}: per-channel filter must be quantized along dimension 0")
    s_in, z_in = per_tensor_qparams(op, x, "input")
    s_out, z_out = per_tensor_qparams(op, out, "output")
    multiplier, shift = per_channel_multipliers(s_in, scales, s_out, channels)
    lo, hi = activation_range(op, out, o["fused_activation_function"])
    xnn_scale = None
    if profile.xnnpack and w.dtype == "int8":
        # The delegate takes every int8-filter CONV_2D catrt accepts (static filter and bias,
        # zero filter zero points, grouped too): XNNPACK fp32 requantization and RNE clamps.
        # An INT4 filter stays on the built-in kernel (measured, litert 2.1 / TF 2.19 x86).
        rounding = XNNPACK_FP32
        xnn_scale = np.broadcast_to(xnnpack.requantization_scales(s_in, scales, s_out),
                                    (channels,)).copy()
        lo, hi = xnnpack.activation_range(o["fused_activation_function"], s_out, z_out)
    elif x.shape[3] != w.shape[3]:
        rounding = DR_AWAY   # conv.cc: grouped convolution always runs the reference kernel
    else:
        rounding = profile.conv_rounding
    return Conv2DParams(input_zero_point=z_in, output_zero_point=z_out,
                        stride=(o["stride_h"], o["stride_w"]),
                        dilation=(o["dilation_h_factor"], o["dilation_w_factor"]),
                        padding=o["padding"], multiplier=multiplier, shift=shift,
                        activation_min=lo, activation_max=hi, rounding=rounding,
                        xnnpack_scale=xnn_scale,
                        gemv_rounding=profile.gemv_rounding if rounding == profile.conv_rounding else "",
                        depth=int(w.shape[1] * w.shape[2] * w.shape[3]))


def evaluate(params: Conv2DParams, inputs: list) -> np.ndarray:
    x, w, bias = inputs[0], inputs[1], inputs[2]
    if params.rounding == XNNPACK_FP32:
        return xnnpack.requantize_fp32(accumulate(params, inputs), params.xnnpack_scale,
                                       params.output_zero_point, params.activation_min,
                                       params.activation_max)
    if params.gemv_rounding:
        acc = accumulate(params, inputs)
        n, out_h, out_w, channels = acc.shape
        # cpu_backend_gemm::Gemm tries CustomGemv when the destination has one column.
        gemv = n * out_h * out_w == 1 and channels >= 4 and params.depth >= 8
        return requantize(acc, params.multiplier, params.shift, params.output_zero_point,
                          params.activation_min, params.activation_max,
                          params.gemv_rounding if gemv else params.rounding)
    return conv_2d(x, w, bias, input_zero_point=params.input_zero_point, stride=params.stride,
                   dilation=params.dilation, padding=params.padding,
                   multiplier=params.multiplier, shift=params.shift,
                   output_zero_point=params.output_zero_point,
                   activation_min=params.activation_min, activation_max=params.activation_max,
                   rounding=params.rounding)


def accumulate(params: Conv2DParams, inputs: list) -> np.ndarray:
    """int32 accumulators (as int64) before requantization, NHWC."""
    acc = conv_2d_accumulate(inputs[0], inputs[1], inputs[2], input_zero_point=params.input_zero_point,
                             stride=params.stride, dilation=params.dilation, padding=params.padding)
    return np.asarray(wrap_int32(acc), dtype=np.int64)
