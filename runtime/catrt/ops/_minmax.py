"""Prepare shared by MINIMUM and MAXIMUM (maximum_minimum.cc): equal input types, raw values."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import CatrtError
from ..reader import Operator
from .common import check_arity, input_tensor, output_tensor


@dataclass(frozen=True)
class MinMaxParams:
    pass


def prepare_minmax(op: Operator, tensors) -> MinMaxParams:
    check_arity(op, (2,))
    a = input_tensor(op, tensors, 0, "first")
    b = input_tensor(op, tensors, 1, "second")
    out = output_tensor(op, tensors)
    if a.dtype != b.dtype or out.dtype != a.dtype:
        raise CatrtError(f"{op.label}: input types {a.dtype}, {b.dtype} and output type "
                         f"{out.dtype} must be equal")
    if a.dtype not in ("int8", "int32", "int64", "float32"):
        raise CatrtError(f"{op.label}: type {a.dtype} is not supported")
    return MinMaxParams()
