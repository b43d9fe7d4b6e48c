"""FULLY_CONNECTED: FullyConnectedOptions; int8 version 4, keep_num_dims 5, no bias 6, int4 10.

Weights [O, K], per-channel along axis 0 (fully_connected.cc). The input is flattened to
[-1, K]; with keep_num_dims the output keeps the input's leading dims, else it is [N, O].
"""
from __future__ import annotations

import math

from catdeploy.export.tflite.ops._common import (
    OpSpec, activation_code, bool_option, expect_activation, expect_arity, expect_channel_qparams,
    expect_constant, expect_dtype, expect_rank, expect_shape, expect_symmetric, fail, optional,
    required,
)


def check(op, tensors) -> None:
    expect_arity(op, (2, 3))
    x = required(op, tensors, 0, "input")
    w = required(op, tensors, 1, "weights")
    b = optional(op, tensors, 2)
    out = tensors[op.outputs[0]]
    expect_activation(op, x)
    expect_dtype(op, w, "weights", "int8", "int4")
    expect_constant(op, w, "weights")
    expect_rank(op, w, "weights", 2)
    expect_channel_qparams(op, w, "weights", axis=0)
    expect_symmetric(op, w, "weights")
    o, k = w.shape
    if len(w.scale) not in (1, o):
        raise fail(op, f"weights '{w.name}' have {len(w.scale)} scales for {o} outputs")
    if b is not None:
        expect_dtype(op, b, "bias", "int32")
        expect_constant(op, b, "bias")
        expect_shape(op, b, "bias", (o,))
        expect_symmetric(op, b, "bias")
    expect_activation(op, out, "output")
    activation_code(op)
    if not x.shape or math.prod(x.shape) % k:
        raise fail(op, f"input '{x.name}' of shape {x.shape} does not flatten to rows of {k}")
    if bool_option(op, "keep_num_dims", False):
        if x.shape[-1] != k:
            raise fail(op, f"keep_num_dims needs the input's last dim {x.shape[-1]} to equal {k}")
        want = tuple(x.shape[:-1]) + (o,)
    else:
        want = (math.prod(x.shape) // k, o)
    expect_shape(op, out, "output", want)


def version(op, tensors) -> int:
    if tensors[op.inputs[1]].dtype == "int4":
        return 10
    if optional(op, tensors, 2) is None:
        return 6
    return 5 if bool_option(op, "keep_num_dims", False) else 4


def build_options(op, schema):
    return schema.FullyConnectedOptionsT(
        fusedActivationFunction=activation_code(op),
        keepNumDims=bool_option(op, "keep_num_dims", False),
    )


SPEC = OpSpec(
    kind="FULLY_CONNECTED", options_type="FullyConnectedOptions", build_options=build_options,
    version=version,
    runtime_versions={1: "1.5.0", 4: "1.14.0", 5: "2.0.0", 6: "2.1.0", 10: "2.11.0"}, check=check,
)
