"""DEQUANTIZE: int8 -> float32 (dequantize.cc); DequantizeOptions (empty); int8 version 2."""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import (
    OpSpec, expect_activation, expect_arity, expect_dtype, expect_shape, required,
)


def check(op, tensors) -> None:
    expect_arity(op, (1, 1))
    x = required(op, tensors, 0, "input")
    out = tensors[op.outputs[0]]
    expect_activation(op, x)
    expect_dtype(op, out, "output", "float32")
    expect_shape(op, out, "output", tuple(x.shape))


def version(op, tensors) -> int:
    return 2


def build_options(op, schema):
    return schema.DequantizeOptionsT()


SPEC = OpSpec(kind="DEQUANTIZE", options_type="DequantizeOptions", build_options=build_options,
              version=version, runtime_versions={1: "1.13.1", 2: "1.14.0"}, check=check)
