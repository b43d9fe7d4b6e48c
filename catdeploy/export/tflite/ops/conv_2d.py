"""CONV_2D: Conv2DOptions; int8 version 3, grouped 6, int4 filter 7 (TFLite op_version.cc).

Mirrors the checks of TFLite's conv.cc Prepare: the bias input is mandatory (int32), filter zero
points are 0, per-channel filter scales run along axis 0 of the [OC, KH, KW, IC] filter.
"""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import (
    OpSpec, activation_code, convolution_operands, expect_activation, expect_constant,
    expect_dtype, expect_shape, expect_spatial_output, expect_symmetric, fail, int_option,
    padding_code,
)


def check(op, tensors) -> None:
    x, w, b, out = convolution_operands(op, tensors, "bias (mandatory for CONV_2D)", channel_axis=0)
    oc, kh, kw, ic_filter = w.shape
    if ic_filter < 1 or x.shape[3] % ic_filter:
        raise fail(op, f"filter input channels {ic_filter} do not divide input channels {x.shape[3]}")
    groups = x.shape[3] // ic_filter
    if oc % groups:
        raise fail(op, f"output channels {oc} are not a multiple of the {groups} groups")
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
    x, w = tensors[op.inputs[0]], tensors[op.inputs[1]]
    if w.dtype == "int4":
        return 7
    if w.shape[3] != x.shape[3]:
        return 6
    return 3


def build_options(op, schema):
    return schema.Conv2DOptionsT(
        padding=padding_code(op),
        strideW=int_option(op, "stride_w"), strideH=int_option(op, "stride_h"),
        fusedActivationFunction=activation_code(op),
        dilationWFactor=int_option(op, "dilation_w", 1), dilationHFactor=int_option(op, "dilation_h", 1),
    )


SPEC = OpSpec(
    kind="CONV_2D", options_type="Conv2DOptions", build_options=build_options, version=version,
    runtime_versions={1: "1.5.0", 2: "1.14.0", 3: "1.14.0", 6: "2.9.0", 7: "2.11.0"}, check=check,
)
