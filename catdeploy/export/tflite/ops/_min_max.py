"""Shared check of MINIMUM and MAXIMUM (maximum_minimum.cc): raw int8 compare, broadcasting,
equal qparams on both inputs and the output; MaximumMinimumOptions (empty); int8 version 2."""
from __future__ import annotations

import numpy as np

from catdeploy.export.tflite.ops._common import (
    expect_arity, expect_same_qparams, expect_shape, fail, required,
)


def check(op, tensors) -> None:
    expect_arity(op, (2, 2))
    a = required(op, tensors, 0, "first")
    b = required(op, tensors, 1, "second")
    out = tensors[op.outputs[0]]
    for t in (a, b):
        if t.dtype != out.dtype:
            raise fail(op, f"input '{t.name}' has dtype {t.dtype}, output has {out.dtype}")
    if out.dtype == "int8":
        expect_same_qparams(op, a, out, f"{op.kind} compares raw int8 values")
        expect_same_qparams(op, b, out, f"{op.kind} compares raw int8 values")
    try:
        shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        raise fail(op, f"input shapes {a.shape} and {b.shape} do not broadcast") from None
    expect_shape(op, out, "output", tuple(shape))


def version(op, tensors) -> int:
    return 2 if tensors[op.inputs[0]].dtype == "int8" else 1


def build_options(op, schema):
    return schema.MaximumMinimumOptionsT()


RUNTIME_VERSIONS = {1: "1.14.0", 2: "1.14.0"}
