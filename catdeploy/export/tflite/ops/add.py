"""ADD: AddOptions (fused activation); int8 version 2 (TFLite op_version.cc).

Two int8 inputs with their own qparams, broadcast to the output shape (add.cc).
"""
from __future__ import annotations

import numpy as np

from catdeploy.export.tflite.ops._common import (
    OpSpec, activation_code, expect_activation, expect_arity, expect_shape, fail, required,
)


def check(op, tensors) -> None:
    expect_arity(op, (2, 2))
    a = required(op, tensors, 0, "first")
    b = required(op, tensors, 1, "second")
    out = tensors[op.outputs[0]]
    expect_activation(op, a, "first input")
    expect_activation(op, b, "second input")
    expect_activation(op, out, "output")
    activation_code(op)
    try:
        shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        raise fail(op, f"input shapes {a.shape} and {b.shape} do not broadcast") from None
    expect_shape(op, out, "output", tuple(shape))


def version(op, tensors) -> int:
    return 2


def build_options(op, schema):
    return schema.AddOptionsT(fusedActivationFunction=activation_code(op))


SPEC = OpSpec(kind="ADD", options_type="AddOptions", build_options=build_options, version=version,
              runtime_versions={1: "1.5.0", 2: "1.14.0"}, check=check)
