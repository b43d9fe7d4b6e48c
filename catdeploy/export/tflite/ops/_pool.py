"""Shared check/options of the two 2D pools (Pool2DOptions; int8 version 2, pooling.cc).

The int8 pooling kernels move raw values and assume equal input and output qparams.
"""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import (
    activation_code, expect_activation, expect_arity, expect_rank, expect_same_qparams,
    expect_spatial_output, int_option, padding_code, required,
)


def check(op, tensors) -> None:
    expect_arity(op, (1, 1))
    x = required(op, tensors, 0, "input")
    out = tensors[op.outputs[0]]
    expect_activation(op, x)
    expect_rank(op, x, "input", 4)
    expect_activation(op, out, "output")
    expect_same_qparams(op, x, out, "TFLite int8 pooling does not requantize")
    padding_code(op)
    activation_code(op)
    kernel = (int_option(op, "filter_h", minimum=1), int_option(op, "filter_w", minimum=1))
    expect_spatial_output(op, x, out, kernel, x.shape[3], dilation=False)


def version(op, tensors) -> int:
    return 2 if tensors[op.inputs[0]].dtype == "int8" else 1


def build_options(op, schema):
    return schema.Pool2DOptionsT(
        padding=padding_code(op),
        strideW=int_option(op, "stride_w"), strideH=int_option(op, "stride_h"),
        filterWidth=int_option(op, "filter_w"), filterHeight=int_option(op, "filter_h"),
        fusedActivationFunction=activation_code(op),
    )


RUNTIME_VERSIONS = {1: "1.5.0", 2: "1.14.0"}
