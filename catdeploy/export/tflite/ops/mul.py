"""MUL: MulOptions (fused activation); int8 version 2, or 3 when s1 * s2 / s_out >= 1
(TFLite op_version.cc). Two int8 inputs with their own qparams, broadcast to the output
(mul.cc; reference_integer_ops::BroadcastMul4DSlow handles rank <= 4)."""
from __future__ import annotations

import numpy as np

from catdeploy.export.tflite.ops._common import (
    OpSpec, activation_code, expect_activation, expect_arity, expect_shape, fail, required,
)

MAX_RANK = 4


def check(op, tensors) -> None:
    expect_arity(op, (2, 2))
    a = required(op, tensors, 0, "first")
    b = required(op, tensors, 1, "second")
    out = tensors[op.outputs[0]]
    expect_activation(op, a, "first input")
    expect_activation(op, b, "second input")
    expect_activation(op, out, "output")
    activation_code(op)
    if max(len(a.shape), len(b.shape)) > MAX_RANK:
        raise fail(op, f"inputs of rank {len(a.shape)} and {len(b.shape)}: int8 MUL broadcasts up to rank {MAX_RANK}")
    try:
        shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        raise fail(op, f"input shapes {a.shape} and {b.shape} do not broadcast") from None
    expect_shape(op, out, "output", tuple(shape))


def version(op, tensors) -> int:
    a, b, out = (tensors[n] for n in (*op.inputs, op.outputs[0]))
    real = float(np.float32(a.scale[0]) * np.float32(b.scale[0]) / np.float32(out.scale[0]))
    return 3 if real >= 1.0 else 2


def build_options(op, schema):
    return schema.MulOptionsT(fusedActivationFunction=activation_code(op))


SPEC = OpSpec(kind="MUL", options_type="MulOptions", build_options=build_options, version=version,
              runtime_versions={1: "1.5.0", 2: "1.14.0", 3: "1.15.0"}, check=check)
