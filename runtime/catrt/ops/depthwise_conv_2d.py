"""DEPTHWISE_CONV_2D int8 (depthwise_conv.cc Prepare + reference DepthwiseConvPerChannel), §2.3."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import CatrtError
from .. import xnnpack
from ..fixed_point import wrap_int32
from ..kernels.depthwise_conv_2d import depthwise_conv_2d, depthwise_conv_2d_accumulate
from ..kernels.depthwise_conv_2d_arm3x3 import fast_3x3_supported, requantize_3x3
from ..kernels.requantize_optimized import requantize_channel_split
from ..profiles import Profile
from ..reader import Operator
from .common import (activation_range, check_arity, check_int4_filter, expect_dtype, expect_rank,
                     filter_scales, input_tensor, output_tensor, per_tensor_qparams, tensor_label)
from .conv_2d import XNNPACK_FP32, per_channel_multipliers


@dataclass(frozen=True)
class DepthwiseConv2DParams:
    input_zero_point: int
    output_zero_point: int
    stride: tuple
    dilation: tuple
    padding: int
    multiplier: np.ndarray
    shift: np.ndarray
    activation_min: int
    activation_max: int
    rounding: str            # a MultiplyByQuantizedMultiplier rounding, or "xnnpack_fp32"
    has_bias: bool
    neon_channel_block: int = 0                  # profile.depthwise_neon_channel_block
    arm_3x3: bool = False    # aarch64 DepthwiseConv3x3FilterPerChannel takes this op
    xnnpack_scale: Optional[np.ndarray] = None   # float32 [OC], for "xnnpack_fp32"


def prepare(op: Operator, tensors, profile: Profile) -> DepthwiseConv2DParams:
    check_arity(op, (2, 3))
    x = input_tensor(op, tensors, 0, "input")
    w = input_tensor(op, tensors, 1, "filter")
    out = output_tensor(op, tensors)
    expect_rank(op, x, "input", 4)
    expect_rank(op, w, "filter", 4)
    o = op.options
    if o["dilation_h_factor"] <= 0 or o["dilation_w_factor"] <= 0:
        raise CatrtError(f"{op.label}: dilations must be positive")
    if not (0 < o["stride_h"] <= 0xFFFF and 0 < o["stride_w"] <= 0xFFFF):
        raise CatrtError(f"{op.label}: strides ({o['stride_h']}, {o['stride_w']}) must be in "
                         "[1, 65535]")
    expect_dtype(op, x, "input", ("int8",))
    expect_dtype(op, out, "output", ("int8",))
    expect_dtype(op, w, "filter", ("int8", "int4"))
    check_int4_filter(op, w, profile)
    if w.shape[0] != 1:
        raise CatrtError(f"{op.label}: filter {tensor_label(w)} must have shape [1, H, W, C], "
                         f"has {w.shape}")
    channels = w.shape[3]
    bias: Optional = None
    if len(op.inputs) == 3:
        if op.inputs[2] < 0:
            raise CatrtError(f"{op.label}: bias input index is -1 with 3 inputs "
                             "(TFLite GetInputSafe fails)")
        bias = input_tensor(op, tensors, 2, "bias")
        expect_dtype(op, bias, "bias", ("int32",))
        if bias.quantization is not None and bias.quantization.legacy_zero_point != 0:
            raise CatrtError(f"{op.label}: bias {tensor_label(bias)} zero point must be 0")
        if len(bias.shape) != 1 or bias.shape[0] != channels:
            raise CatrtError(f"{op.label}: bias shape {bias.shape} does not match {channels} "
                             "channels")
    if x.shape[3] <= 0 or channels % x.shape[3]:
        raise CatrtError(f"{op.label}: filter channels {channels} are not a multiple of input "
                         f"channels {x.shape[3]}")
    scales = filter_scales(op, w)
    if len(scales) not in (1, channels):
        raise CatrtError(f"{op.label}: filter has {len(scales)} scales for {channels} channels")
    s_in, z_in = per_tensor_qparams(op, x, "input")
    s_out, z_out = per_tensor_qparams(op, out, "output")
    multiplier, shift = per_channel_multipliers(s_in, scales, s_out, channels)
    lo, hi = activation_range(op, out, o["fused_activation_function"])
    rounding, xnn_scale = profile.depthwise_rounding, None
    if profile.xnnpack and bias is not None and w.dtype == "int8":
        # VisitDepthwiseConv2DNode takes int8 DW with a static int8 filter and bias; an INT4
        # filter stays on the built-in kernel.
        rounding = XNNPACK_FP32
        xnn_scale = np.broadcast_to(xnnpack.requantization_scales(s_in, scales, s_out),
                                    (channels,)).copy()
        lo, hi = xnnpack.activation_range(o["fused_activation_function"], s_out, z_out)
    return DepthwiseConv2DParams(
        input_zero_point=z_in, output_zero_point=z_out, stride=(o["stride_h"], o["stride_w"]),
        dilation=(o["dilation_h_factor"], o["dilation_w_factor"]), padding=o["padding"],
        multiplier=multiplier, shift=shift, activation_min=lo, activation_max=hi,
        rounding=rounding, has_bias=bias is not None,
        neon_channel_block=profile.depthwise_neon_channel_block, xnnpack_scale=xnn_scale,
        arm_3x3=(profile.arch == "aarch64" and rounding == profile.depthwise_rounding
                 and profile.depthwise_neon_channel_block > 0
                 and fast_3x3_supported(x.shape, w.shape, out.shape, (o["stride_h"], o["stride_w"]),
                                        (o["dilation_h_factor"], o["dilation_w_factor"]), o["padding"])))


def evaluate(params: DepthwiseConv2DParams, inputs: list) -> np.ndarray:
    bias = inputs[2] if params.has_bias else None
    if params.rounding == XNNPACK_FP32:
        return xnnpack.requantize_fp32(accumulate(params, inputs), params.xnnpack_scale,
                                       params.output_zero_point, params.activation_min,
                                       params.activation_max)
    if params.arm_3x3:
        return requantize_3x3(accumulate(params, inputs), params.multiplier, params.shift,
                              params.output_zero_point, params.activation_min, params.activation_max)
    if params.neon_channel_block:
        return requantize_channel_split(accumulate(params, inputs), params.multiplier,
                                        params.shift, params.output_zero_point,
                                        params.activation_min, params.activation_max,
                                        params.rounding, params.neon_channel_block)
    return depthwise_conv_2d(inputs[0], inputs[1], bias, input_zero_point=params.input_zero_point,
                             stride=params.stride, dilation=params.dilation,
                             padding=params.padding, multiplier=params.multiplier,
                             shift=params.shift, output_zero_point=params.output_zero_point,
                             activation_min=params.activation_min,
                             activation_max=params.activation_max, rounding=params.rounding)


def accumulate(params: DepthwiseConv2DParams, inputs: list) -> np.ndarray:
    """int32 accumulators (as int64) before requantization, NHWC."""
    bias = inputs[2] if params.has_bias else None
    acc = depthwise_conv_2d_accumulate(inputs[0], inputs[1], bias,
                                       input_zero_point=params.input_zero_point,
                                       stride=params.stride, dilation=params.dilation,
                                       padding=params.padding)
    return np.asarray(wrap_int32(acc), dtype=np.int64)
