"""DEQUANTIZE (dequantize.cc + reference Dequantize / PerChannelDequantize), §2.9."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..kernels.dequantize import dequantize
from ..profiles import Profile
from ..reader import Operator
from .common import check_arity, expect_dtype, filter_scales, input_tensor, output_tensor


@dataclass(frozen=True)
class DequantizeParams:
    scale: tuple
    zero_point: tuple
    axis: int


def prepare(op: Operator, tensors, profile: Profile) -> DequantizeParams:
    check_arity(op, (1,))
    x = input_tensor(op, tensors, 0, "input")
    out = output_tensor(op, tensors)
    expect_dtype(op, x, "input", ("int8", "int4"))
    expect_dtype(op, out, "output", ("float32",))
    scales = filter_scales(op, x, "input")
    q = x.quantization
    if len(scales) > 1 and not x.shape:
        raise CatrtError(f"{op.label}: per-channel DEQUANTIZE of a scalar")
    return DequantizeParams(scale=q.scale, zero_point=q.zero_point, axis=q.quantized_dimension)


def evaluate(params: DequantizeParams, inputs: list) -> np.ndarray:
    return dequantize(inputs[0], scale=params.scale, zero_point=params.zero_point,
                      axis=params.axis)
