"""DEQUANTIZE (dequantize.cc + reference Dequantize / PerChannelDequantize), §2.9."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..kernels.dequantize import dequantize
from ..kernels.dequantize_optimized import dequantize_neon
from ..profiles import Profile
from ..reader import Operator
from .common import check_arity, expect_dtype, filter_scales, input_tensor, output_tensor


@dataclass(frozen=True)
class DequantizeParams:
    scale: tuple
    zero_point: tuple
    axis: int
    neon: str = ""       # "neon" / "neon_fma": optimized_ops::Dequantize under USE_NEON (per-tensor int8)


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
    # XNNPACK's qs8 -> f32 convert equals the reference; the USE_NEON built-in kernel does not.
    neon = (profile.dequantize_algorithm if profile.dequantize_algorithm != "ref" and not profile.xnnpack
            and x.dtype == "int8" and len(scales) == 1 and not x.is_constant else "")
    return DequantizeParams(scale=q.scale, zero_point=q.zero_point, axis=q.quantized_dimension,
                            neon=neon)


def evaluate(params: DequantizeParams, inputs: list) -> np.ndarray:
    if params.neon:
        return dequantize_neon(inputs[0], scale=params.scale[0], zero_point=params.zero_point[0],
                               fused=params.neon == "neon_fma")
    return dequantize(inputs[0], scale=params.scale, zero_point=params.zero_point,
                      axis=params.axis)
