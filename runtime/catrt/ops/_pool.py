"""Prepare shared by AVERAGE_POOL_2D and MAX_POOL_2D (pooling.cc)."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import CatrtError
from ..reader import Operator
from .common import (activation_range, check_arity, expect_dtype, expect_rank, input_tensor,
                     output_tensor)


@dataclass(frozen=True)
class PoolParams:
    filter_size: tuple
    stride: tuple
    padding: int
    activation_min: int
    activation_max: int


def prepare_pool(op: Operator, tensors) -> PoolParams:
    check_arity(op, (1,))
    x = input_tensor(op, tensors, 0, "input")
    out = output_tensor(op, tensors)
    expect_rank(op, x, "input", 4)
    expect_dtype(op, x, "input", ("int8",))
    expect_dtype(op, out, "output", ("int8",))
    o = op.options
    if o["filter_height"] <= 0 or o["filter_width"] <= 0:
        raise CatrtError(f"{op.label}: filter size ({o['filter_height']}, {o['filter_width']}) "
                         "must be positive")
    if o["stride_h"] <= 0 or o["stride_w"] <= 0:
        raise CatrtError(f"{op.label}: strides ({o['stride_h']}, {o['stride_w']}) must be positive")
    lo, hi = activation_range(op, out, o["fused_activation_function"])
    return PoolParams(filter_size=(o["filter_height"], o["filter_width"]),
                      stride=(o["stride_h"], o["stride_w"]), padding=o["padding"],
                      activation_min=lo, activation_max=hi)
