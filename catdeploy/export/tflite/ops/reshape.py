"""RESHAPE: ReshapeOptions(new_shape); version 1 (reshape.cc).

Either one input plus the `new_shape` option (one -1 allowed), or a second int32 shape constant.
"""
from __future__ import annotations

import math

from catdeploy.export.tflite.ops._common import (
    OpSpec, expect_arity, expect_constant, expect_dtype, expect_rank, expect_same_qparams, fail,
    int_values, optional, required,
)


def _new_shape(op, tensors) -> tuple[int, ...]:
    shape_tensor = optional(op, tensors, 1)
    if "new_shape" in op.options:
        raw = op.options["new_shape"]
        try:
            shape = tuple(int(d) for d in raw)
        except (TypeError, ValueError):
            raise fail(op, f"option 'new_shape' must be a sequence of ints, got {raw!r}") from None
        if shape_tensor is not None and shape_tensor.data is not None:
            if tuple(int_values(op, shape_tensor, "shape").ravel()) != shape:
                raise fail(op, f"option new_shape {shape} disagrees with shape input '{shape_tensor.name}'")
        return shape
    if shape_tensor is None:
        raise fail(op, "needs option 'new_shape' or a shape input")
    return tuple(int(d) for d in int_values(op, shape_tensor, "shape").ravel())


def check(op, tensors) -> None:
    expect_arity(op, (1, 2))
    x = required(op, tensors, 0, "input")
    out = tensors[op.outputs[0]]
    shape_tensor = optional(op, tensors, 1)
    if shape_tensor is not None:
        expect_dtype(op, shape_tensor, "shape", "int32")
        expect_constant(op, shape_tensor, "shape")
        expect_rank(op, shape_tensor, "shape", 1)
    if out.dtype != x.dtype:
        raise fail(op, f"output dtype {out.dtype} differs from input dtype {x.dtype}")
    if x.dtype == "int8":
        expect_same_qparams(op, x, out, "RESHAPE copies raw values")
    shape = _new_shape(op, tensors)
    if sum(d == -1 for d in shape) > 1 or any(d < -1 for d in shape):
        raise fail(op, f"new_shape {shape} may hold at most one -1 and no other negative dim")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or math.prod(x.shape) % known:
            raise fail(op, f"new_shape {shape} does not fit {math.prod(x.shape)} elements")
        shape = tuple(math.prod(x.shape) // known if d == -1 else d for d in shape)
    if shape != tuple(out.shape) or math.prod(shape) != math.prod(x.shape):
        raise fail(op, f"reshaping {x.shape} with new_shape {shape} does not give output shape {out.shape}")


def version(op, tensors) -> int:
    return 1


def build_options(op, schema):
    if "new_shape" not in op.options:
        return None
    return schema.ReshapeOptionsT(newShape=[int(d) for d in op.options["new_shape"]])


SPEC = OpSpec(kind="RESHAPE", options_type="ReshapeOptions", build_options=build_options,
              version=version, runtime_versions={1: "1.5.0"}, check=check)
