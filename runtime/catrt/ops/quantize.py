"""QUANTIZE (quantize.cc Prepare + reference AffineQuantize / Requantize), §2.9."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..fixed_point import quantize_multiplier
from ..kernels.quantize import quantize_float, requantize_int
from ..profiles import Profile
from ..reader import Operator
from .common import check_arity, expect_dtype, input_tensor, output_tensor, per_tensor_qparams


@dataclass(frozen=True)
class QuantizeParams:
    from_float: bool
    output_scale: float
    output_zero_point: int
    input_zero_point: int = 0
    multiplier: int = 0
    shift: int = 0
    rounding: str = "dr_away"


def prepare(op: Operator, tensors, profile: Profile) -> QuantizeParams:
    check_arity(op, (1,))
    x = input_tensor(op, tensors, 0, "input")
    out = output_tensor(op, tensors)
    expect_dtype(op, x, "input", ("float32", "int8"))
    expect_dtype(op, out, "output", ("int8",))
    s_out, z_out = per_tensor_qparams(op, out, "output")
    if not -128 <= z_out <= 127:
        raise CatrtError(f"{op.label}: output zero point {z_out} is outside int8")
    if x.dtype == "float32":
        return QuantizeParams(from_float=True, output_scale=s_out, output_zero_point=z_out)
    s_in, z_in = per_tensor_qparams(op, x, "input")
    multiplier, shift = quantize_multiplier(float(s_in) / float(s_out))
    return QuantizeParams(from_float=False, output_scale=s_out, output_zero_point=z_out,
                          input_zero_point=z_in, multiplier=multiplier, shift=shift,
                          rounding=profile.requantize_rounding)


def evaluate(params: QuantizeParams, inputs: list) -> np.ndarray:
    if params.from_float:
        return quantize_float(inputs[0], scale=params.output_scale,
                              zero_point=params.output_zero_point)
    return requantize_int(inputs[0], input_zero_point=params.input_zero_point,
                          multiplier=params.multiplier, shift=params.shift,
                          output_zero_point=params.output_zero_point, rounding=params.rounding)
