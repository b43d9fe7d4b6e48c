"""CONCATENATION: ConcatenationOptions(axis, fused activation); int8 version 2.

TFLite's int8 concat Prepare requires every input's qparams to equal the output's
(concatenation.cc); there is no requantizing int8 concat. Its Prepare also refuses any fused
activation other than NONE (the option exists in the schema only).
"""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import (
    OpSpec, activation_code, expect_arity, expect_same_qparams, expect_shape, fail, int_option,
)


def _axis(op, rank: int) -> int:
    axis = int_option(op, "axis")
    if not -rank <= axis < rank:
        raise fail(op, f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def check(op, tensors) -> None:
    expect_arity(op, (1, 1 << 16))
    if any(not name for name in op.inputs):
        raise fail(op, "inputs may not be omitted")
    xs = [tensors[name] for name in op.inputs]
    out = tensors[op.outputs[0]]
    rank = len(out.shape)
    axis = _axis(op, rank)
    if activation_code(op) != 0:
        raise fail(op, "TFLite's CONCATENATION kernel accepts only fused_activation NONE")
    for x in xs:
        if x.dtype != out.dtype:
            raise fail(op, f"input '{x.name}' has dtype {x.dtype}, output has {out.dtype}")
        if len(x.shape) != rank or any(a != b for i, (a, b) in enumerate(zip(x.shape, out.shape)) if i != axis):
            raise fail(op, f"input '{x.name}' of shape {x.shape} does not concatenate into {out.shape} on axis {axis}")
        if out.dtype == "int8":
            expect_same_qparams(op, x, out, "TFLite has no requantizing int8 concatenation")
    want = list(out.shape)
    want[axis] = sum(x.shape[axis] for x in xs)
    expect_shape(op, out, "output", tuple(want))


def version(op, tensors) -> int:
    return 2 if tensors[op.outputs[0]].dtype == "int8" else 1


def build_options(op, schema):
    return schema.ConcatenationOptionsT(axis=int_option(op, "axis"),
                                        fusedActivationFunction=activation_code(op))


SPEC = OpSpec(kind="CONCATENATION", options_type="ConcatenationOptions", build_options=build_options,
              version=version, runtime_versions={1: "1.5.0", 2: "1.14.0"}, check=check)
