"""ARG_MAX (arg_min_max.cc + reference ArgMinMax): first index wins on ties, §2.8."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import CatrtError
from ..kernels.arg_max import arg_max
from ..profiles import Profile
from ..reader import Operator
from .common import check_arity, expect_dtype, input_tensor, output_tensor


@dataclass(frozen=True)
class ArgMaxParams:
    axis: Optional[int]          # None: read the axis tensor at eval time
    out_dtype: str
    label: str


def _normalize(label: str, axis: int, rank: int) -> int:
    value = axis + rank if axis < 0 else axis
    if not 0 <= value < rank:
        raise CatrtError(f"{label}: axis {axis} is outside rank {rank}")
    return value


def prepare(op: Operator, tensors, profile: Profile) -> ArgMaxParams:
    check_arity(op, (2,))
    x = input_tensor(op, tensors, 0, "input")
    axis_t = input_tensor(op, tensors, 1, "axis")
    out = output_tensor(op, tensors)
    # arg_min_max.cc Eval: float32, uint8, int8, int32 or bool input (no int16, no int64).
    expect_dtype(op, x, "input", ("int8", "int32", "float32"))
    expect_dtype(op, axis_t, "axis", ("int32", "int64"))
    expect_dtype(op, out, "output", ("int32", "int64"))
    if int(np.prod(axis_t.shape)) != 1:
        raise CatrtError(f"{op.label}: axis tensor must hold one value, has shape {axis_t.shape}")
    axis = None
    if axis_t.data is not None:
        axis = _normalize(op.label, int(axis_t.data.reshape(-1)[0]), len(x.shape))
    return ArgMaxParams(axis=axis, out_dtype=out.dtype, label=op.label)


def evaluate(params: ArgMaxParams, inputs: list) -> np.ndarray:
    x = inputs[0]
    axis = params.axis
    if axis is None:
        axis = _normalize(params.label, int(np.asarray(inputs[1]).reshape(-1)[0]), x.ndim)
    return arg_max(x, axis, np.dtype(params.out_dtype))
