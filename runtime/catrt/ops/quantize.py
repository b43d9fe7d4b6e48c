"""QUANTIZE (quantize.cc Prepare + reference AffineQuantize / Requantize), §2.9."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..fixed_point import quantize_multiplier
from .. import xnnpack
from ..kernels.quantize import quantize_float, requantize_int
from ..kernels.quantize_optimized import (convert_xnnpack, quantize_float_f64_rha,
                                          quantize_float_neon, quantize_float_xnnpack,
                                          requantize_neon)
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
    algorithm: str = "f32_divide_rha"   # float input: a profile.quantize_float or "xnnpack";
                                        # int8 input: "ref", "neon" or "xnnpack"
    xnnpack_multiplier: int = 0


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
        algorithm = "xnnpack" if profile.xnnpack else profile.quantize_float
        return QuantizeParams(from_float=True, output_scale=s_out, output_zero_point=z_out,
                              algorithm=algorithm)
    s_in, z_in = per_tensor_qparams(op, x, "input")
    multiplier, shift = quantize_multiplier(float(s_in) / float(s_out))
    algorithm, xnn_multiplier = ("neon" if profile.requantize_neon_block else "ref"), 0
    if profile.xnnpack and xnnpack.convert_supported(s_in, s_out):
        algorithm, xnn_multiplier = "xnnpack", xnnpack.convert_multiplier(s_in, s_out)
    return QuantizeParams(from_float=False, output_scale=s_out, output_zero_point=z_out,
                          input_zero_point=z_in, multiplier=multiplier, shift=shift,
                          rounding=profile.requantize_rounding, algorithm=algorithm,
                          xnnpack_multiplier=xnn_multiplier)


_FLOAT_KERNELS = {"f32_divide_rha": quantize_float, "f64_divide_rha": quantize_float_f64_rha,
                  "neon_reciprocal_rne": quantize_float_neon, "xnnpack": quantize_float_xnnpack}


def evaluate(params: QuantizeParams, inputs: list) -> np.ndarray:
    if params.from_float:
        return _FLOAT_KERNELS[params.algorithm](inputs[0], scale=params.output_scale,
                                                zero_point=params.output_zero_point)
    if params.algorithm == "xnnpack":
        return convert_xnnpack(inputs[0], input_zero_point=params.input_zero_point,
                               multiplier=params.xnnpack_multiplier,
                               output_zero_point=params.output_zero_point)
    kernel = requantize_neon if params.algorithm == "neon" else requantize_int
    return kernel(inputs[0], input_zero_point=params.input_zero_point,
                          multiplier=params.multiplier, shift=params.shift,
                          output_zero_point=params.output_zero_point, rounding=params.rounding)
