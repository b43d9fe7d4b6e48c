"""FULLY_CONNECTED: FullyConnectedOptions; int8 version 4, keep_num_dims 5, no bias 6, int4 10,
int2 14 (registered from runtime 2.21 / LiteRT), 16x8 version 7.

Weights [O, K], per-channel along axis 0 (fully_connected.cc). The input is flattened to
[-1, K]; with keep_num_dims the output keeps the input's leading dims, else it is [N, O].
16x8 (the CAT cluster scores): int16 input and output with zero point 0 (Prepare requires it),
int8 per-channel weights and an int64 bias, no fused activation, no keep_num_dims. The int64 bias
sends every resolver of the three wheels to the reference kernel; quantized_bias_type is left
unset (an int32 bias without it is read as int64 by TF 2.19's and LiteRT 2.1.0's reference kernel).
"""
from __future__ import annotations

import math

from catdeploy.export.tflite.ops._common import (
    OpSpec, activation_code, bool_option, expect_activation, expect_arity, expect_channel_qparams,
    expect_constant, expect_dtype, expect_quantized, expect_rank, expect_shape, expect_symmetric, fail,
    optional, required,
)


def check_16x8(op, tensors) -> None:
    expect_arity(op, (3, 3))
    x, w, b = (required(op, tensors, i, role) for i, role in enumerate(("input", "weights", "bias")))
    out = tensors[op.outputs[0]]
    for t, role in ((x, "input"), (out, "output")):
        expect_dtype(op, t, role, "int16")
        expect_quantized(op, t, role, per_tensor=True)
        if t.zero_point != (0,):
            raise fail(op, f"{role} '{t.name}' is int16 and must have zero point 0 (TFLite Prepare)")
    expect_dtype(op, w, "weights", "int8")
    expect_constant(op, w, "weights")
    expect_rank(op, w, "weights", 2)
    expect_channel_qparams(op, w, "weights", axis=0)
    expect_symmetric(op, w, "weights")
    o, k = w.shape
    if len(w.scale) != o:
        raise fail(op, f"16x8 weights '{w.name}' need one scale per output ({o}), have {len(w.scale)}")
    expect_dtype(op, b, "bias", "int64")
    expect_constant(op, b, "bias")
    expect_shape(op, b, "bias", (o,))
    if activation_code(op) != 0 or bool_option(op, "keep_num_dims", False):
        raise fail(op, "a 16x8 FULLY_CONNECTED is written without fused activation and keep_num_dims")
    if len(x.shape) != 2 or x.shape[1] != k:
        raise fail(op, f"16x8 input '{x.name}' must be [N, {k}], has shape {x.shape}")
    expect_shape(op, out, "output", (x.shape[0], o))


def check(op, tensors) -> None:
    expect_arity(op, (2, 3))
    x = required(op, tensors, 0, "input")
    if x.dtype == "int16":
        check_16x8(op, tensors)
        return
    w = required(op, tensors, 1, "weights")
    b = optional(op, tensors, 2)
    out = tensors[op.outputs[0]]
    expect_activation(op, x)
    expect_dtype(op, w, "weights", "int8", "int4", "int2")
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
    if tensors[op.inputs[0]].dtype == "int16":
        return 7   # the TF converter's 16x8 version; registered by every resolver since 2.3
    if tensors[op.inputs[1]].dtype == "int4":
        return 10
    if tensors[op.inputs[1]].dtype == "int2":
        return 14
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
    runtime_versions={1: "1.5.0", 4: "1.14.0", 5: "2.0.0", 6: "2.1.0", 7: "2.3.0", 10: "2.11.0", 14: "2.21.0"}, check=check,
)
