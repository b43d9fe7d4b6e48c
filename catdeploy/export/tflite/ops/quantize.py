"""QUANTIZE: float32 -> int8, or int8 -> int8 requantize (quantize.cc); QuantizeOptions (empty);
version 1 (op_version.cc gives higher versions only to int16/int4/per-channel)."""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import (
    OpSpec, expect_activation, expect_arity, expect_dtype, expect_quantized, expect_shape, required,
)


def check(op, tensors) -> None:
    expect_arity(op, (1, 1))
    x = required(op, tensors, 0, "input")
    out = tensors[op.outputs[0]]
    expect_dtype(op, x, "input", "float32", "int8")
    if x.dtype == "int8":
        expect_quantized(op, x, "input", per_tensor=True)
    expect_activation(op, out, "output")
    expect_shape(op, out, "output", tuple(x.shape))


def version(op, tensors) -> int:
    return 1


def build_options(op, schema):
    return schema.QuantizeOptionsT()


SPEC = OpSpec(kind="QUANTIZE", options_type="QuantizeOptions", build_options=build_options,
              version=version, runtime_versions={1: "1.14.0"}, check=check)
