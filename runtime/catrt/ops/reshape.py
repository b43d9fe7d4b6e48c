"""RESHAPE (reshape.cc): the new shape comes from a 1-D int32 shape tensor when present, else from
the new_shape option, else from the output tensor's declared shape.

Batch resizing (catrt extension): when the interpreter runs a batch different from the file's,
an element-count mismatch is resolved by treating the new shape's leading dimension as the
batch. Prepare validates the file's own shapes first, so that rule never hides a bad file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import CatrtError
from ..kernels.reshape import reshape, resolve_shape
from ..profiles import Profile
from ..reader import Operator
from .common import check_arity, input_tensor, num_elements, output_tensor


@dataclass(frozen=True)
class ReshapeParams:
    new_shape: Optional[tuple]     # None: read the shape tensor at eval time
    label: str


def _shape_from_tensor(op: Operator, tensors) -> Optional[object]:
    if len(op.inputs) == 2 and op.inputs[1] >= 0:
        shape_t = tensors[op.inputs[1]]
        if len(shape_t.shape) == 1 and shape_t.dtype == "int32":
            return shape_t
    return None


def prepare(op: Operator, tensors, profile: Profile) -> ReshapeParams:
    check_arity(op, (1, 2))
    x = input_tensor(op, tensors, 0, "input")
    out = output_tensor(op, tensors)
    if x.dtype != out.dtype and not {x.dtype, out.dtype} <= {"int8", "int4"}:
        raise CatrtError(f"{op.label}: input type {x.dtype} differs from output type {out.dtype}")
    shape_t = _shape_from_tensor(op, tensors)
    if shape_t is not None:
        new_shape = None if shape_t.data is None else tuple(int(v) for v in shape_t.data)
    elif op.options.get("new_shape") is not None:
        new_shape = tuple(op.options["new_shape"])
    else:
        new_shape = tuple(out.shape)
    if new_shape is not None:
        resolve_shape(new_shape, num_elements(x.shape), op.label)  # the file must be consistent
    return ReshapeParams(new_shape=new_shape, label=op.label)


def evaluate(params: ReshapeParams, inputs: list) -> np.ndarray:
    x = inputs[0]
    new_shape = params.new_shape
    if new_shape is None:
        new_shape = tuple(int(v) for v in np.asarray(inputs[1]).reshape(-1))
    try:
        shape = resolve_shape(new_shape, x.size, params.label)
    except CatrtError:
        # Batch resized: keep every dimension but the leading one.
        rest = num_elements(new_shape[1:]) if new_shape else 0
        if not new_shape or -1 in new_shape or rest <= 0 or x.size % rest:
            raise
        shape = (x.size // rest,) + tuple(new_shape[1:])
    return reshape(x, shape)
