"""PRELU: no options; version 1 (op_version.cc has no other; every resolver registers it). Inputs
x and a constant int8 alpha, both per-tensor quantized, alpha broadcast against x up to rank 4
(activations.cc PreluPrepare: alpha of x's type, output shape = the broadcast shape = x's;
reference_ops::BroadcastPrelu4DSlow)."""
from __future__ import annotations

import numpy as np

from catdeploy.export.tflite.ops._common import (
    OpSpec, expect_activation, expect_arity, expect_constant, expect_shape, fail, required,
)

MAX_RANK = 4


def check(op, tensors) -> None:
    expect_arity(op, (2, 2))
    x = required(op, tensors, 0, "input")
    alpha = required(op, tensors, 1, "alpha")
    out = tensors[op.outputs[0]]
    expect_activation(op, x)
    expect_activation(op, alpha, "alpha")
    expect_constant(op, alpha, "alpha")
    expect_activation(op, out, "output")
    if len(x.shape) > MAX_RANK or len(alpha.shape) > len(x.shape):
        raise fail(op, f"input of rank {len(x.shape)} and alpha of rank {len(alpha.shape)}: PRELU "
                       f"broadcasts alpha onto inputs up to rank {MAX_RANK}")
    try:
        shape = np.broadcast_shapes(tuple(x.shape), tuple(alpha.shape))
    except ValueError:
        raise fail(op, f"alpha of shape {alpha.shape} does not broadcast to the input {x.shape}") from None
    if tuple(shape) != tuple(x.shape):
        raise fail(op, f"alpha of shape {alpha.shape} would broadcast the input {x.shape} to {shape}")
    expect_shape(op, out, "output", tuple(x.shape))


def version(op, tensors) -> int:
    return 1


SPEC = OpSpec(kind="PRELU", options_type=None, build_options=lambda op, schema: None,
              version=version, runtime_versions={1: "1.8.0"}, check=check)
