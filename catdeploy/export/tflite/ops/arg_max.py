"""ARG_MAX: inputs (x, int32 axis constant); ArgMaxOptions(output_type INT32); int8 version 2.

TFLite scans with a strict '>' so the first index wins on ties (arg_min_max.cc).
"""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import (
    OpSpec, expect_arity, expect_constant, expect_dtype, expect_shape, fail, int_values, required,
)


def check(op, tensors) -> None:
    expect_arity(op, (2, 2))
    x = required(op, tensors, 0, "input")
    axis_t = required(op, tensors, 1, "axis")
    out = tensors[op.outputs[0]]
    expect_dtype(op, x, "input", "int8", "int32", "float32")
    expect_dtype(op, axis_t, "axis", "int32")
    expect_constant(op, axis_t, "axis")
    axes = int_values(op, axis_t, "axis").ravel()
    if axes.size != 1 or not -len(x.shape) <= axes[0] < len(x.shape):
        raise fail(op, f"axis {axes.tolist()} must be one int in range for rank {len(x.shape)}")
    if op.options.get("output_type", "INT32") != "INT32":
        raise fail(op, f"output_type {op.options['output_type']!r} is not supported (INT32 only)")
    expect_dtype(op, out, "output", "int32")
    axis = int(axes[0]) % len(x.shape)
    expect_shape(op, out, "output", tuple(d for i, d in enumerate(x.shape) if i != axis))


def version(op, tensors) -> int:
    return 2 if tensors[op.inputs[0]].dtype == "int8" else 1


def build_options(op, schema):
    return schema.ArgMaxOptionsT(outputType=schema.TensorType.INT32)


SPEC = OpSpec(kind="ARG_MAX", options_type="ArgMaxOptions", build_options=build_options,
              version=version, runtime_versions={1: "1.9.0", 2: "1.14.0"}, check=check)
