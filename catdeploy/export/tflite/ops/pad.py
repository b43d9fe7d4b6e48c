"""PAD: inputs (x, paddings int32 [rank, 2] constant); PadOptions (empty); int8 version 2.

TFLite pads int8 with the output zero point and does not requantize (pad.cc).
"""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import (
    OpSpec, expect_arity, expect_constant, expect_dtype, expect_same_qparams, expect_shape, fail,
    int_values, required,
)


def check(op, tensors) -> None:
    expect_arity(op, (2, 2))
    x = required(op, tensors, 0, "input")
    p = required(op, tensors, 1, "paddings")
    out = tensors[op.outputs[0]]
    expect_dtype(op, p, "paddings", "int32")
    expect_constant(op, p, "paddings")
    expect_shape(op, p, "paddings", (len(x.shape), 2))
    pads = int_values(op, p, "paddings")
    if (pads < 0).any():
        raise fail(op, f"paddings '{p.name}' must be non-negative, got {pads.tolist()}")
    if out.dtype != x.dtype:
        raise fail(op, f"output dtype {out.dtype} differs from input dtype {x.dtype}")
    if x.dtype == "int8":
        expect_same_qparams(op, x, out, "PAD does not requantize")
    expect_shape(op, out, "output", tuple(int(d + a + b) for d, (a, b) in zip(x.shape, pads)))


def version(op, tensors) -> int:
    x = tensors[op.inputs[0]]
    if len(x.shape) > 4:
        return 4
    return 2 if x.dtype == "int8" else 1


def build_options(op, schema):
    return schema.PadOptionsT()


SPEC = OpSpec(kind="PAD", options_type="PadOptions", build_options=build_options, version=version,
              runtime_versions={1: "1.5.0", 2: "1.14.0", 4: "2.6.0"}, check=check)
