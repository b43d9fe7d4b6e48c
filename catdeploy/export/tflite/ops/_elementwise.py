"""Checks shared by the one-input int8 activation ops (LOGISTIC, HARD_SWISH, LEAKY_RELU): one
input, one output of the same shape, both int8 quantized per tensor."""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import expect_activation, expect_arity, expect_shape, required


def check_unary(op, tensors):
    """(input, output) after the shared checks."""
    expect_arity(op, (1, 1))
    x = required(op, tensors, 0, "input")
    out = tensors[op.outputs[0]]
    expect_activation(op, x)
    expect_activation(op, out, "output")
    expect_shape(op, out, "output", tuple(x.shape))
    return x, out
