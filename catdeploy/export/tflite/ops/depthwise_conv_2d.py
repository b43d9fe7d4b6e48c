"""DEPTHWISE_CONV_2D: DepthwiseConv2DOptions; int8 version 3, int4 filter 7 (TFLite op_version.cc).

Filter [1, KH, KW, IC*dm], per-channel along axis 3. TFLite's int8 kernel recomputes the depth
multiplier from the shapes (depthwise_conv.cc), so the option must agree with them.
The bias is required here although TFLite's schema marks it optional: measured on
tflite-runtime 2.14, TF 2.19 and ai-edge-litert 2.1.0, the optimized int8 kernels (BUILTIN,
BUILTIN_WITHOUT_DEFAULT_DELEGATES) crash with a segfault on a two-input DEPTHWISE_CONV_2D, and a
bias index of -1 is refused at load ("Tensor at index 2 was optional but was expected").
"""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import (
    OpSpec, activation_code, convolution_operands, expect_activation, expect_constant,
    expect_dtype, expect_shape, expect_spatial_output, expect_symmetric, fail, int_option,
    padding_code, required,
)


def check(op, tensors) -> None:
    x, w, b, out = convolution_operands(op, tensors, "bias (TFLite's optimized int8 DEPTHWISE_CONV_2D crashes without it)", channel_axis=3)
    one, kh, kw, oc = w.shape
    if one != 1:
        raise fail(op, f"filter '{w.name}' must have shape [1, KH, KW, OC], got {w.shape}")
    ic = x.shape[3]
    if oc % ic:
        raise fail(op, f"filter channels {oc} are not a multiple of input channels {ic}")
    dm = int_option(op, "depth_multiplier", minimum=1)
    if dm * ic != oc:
        raise fail(op, f"depth_multiplier {dm} disagrees with shapes: {oc} output / {ic} input channels")
    if len(w.scale) not in (1, oc):
        raise fail(op, f"filter '{w.name}' has {len(w.scale)} scales for {oc} output channels")
    expect_dtype(op, b, "bias", "int32")
    expect_constant(op, b, "bias")
    expect_shape(op, b, "bias", (oc,))
    expect_symmetric(op, b, "bias")
    expect_activation(op, out, "output")
    padding_code(op)
    activation_code(op)
    expect_spatial_output(op, x, out, (kh, kw), oc)


def version(op, tensors) -> int:
    return 7 if tensors[op.inputs[1]].dtype == "int4" else 3


def build_options(op, schema):
    return schema.DepthwiseConv2DOptionsT(
        padding=padding_code(op),
        strideW=int_option(op, "stride_w"), strideH=int_option(op, "stride_h"),
        depthMultiplier=int_option(op, "depth_multiplier"),
        fusedActivationFunction=activation_code(op),
        dilationWFactor=int_option(op, "dilation_w", 1), dilationHFactor=int_option(op, "dilation_h", 1),
    )


SPEC = OpSpec(
    kind="DEPTHWISE_CONV_2D", options_type="DepthwiseConv2DOptions", build_options=build_options,
    version=version, runtime_versions={1: "1.5.0", 2: "1.12.0", 3: "1.14.0", 7: "2.11.0"}, check=check,
)
