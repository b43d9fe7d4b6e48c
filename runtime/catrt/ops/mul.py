"""MUL int8 (mul.cc Prepare + reference Mul eval), §2.6.

Eval is a function of the two int8 input values alone (each algorithm below is elementwise), so
prepare evaluates it once on all 65 536 pairs and eval looks the outputs up, broadcasting as
NumPy (kernels.lookup: a uint16 index of the two codes' bit patterns): the same integers without
the 64-bit requantization per element (MUL was 76-82 % of catrt's time on EfficientNet-B0).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import xnnpack
from ..fixed_point import quantize_multiplier
from ..kernels.lookup import lookup_pairs, pairs_of_codes
from ..kernels.mul import mul
from ..profiles import Profile
from ..reader import Operator
from .common import activation_range, binary_int8_qparams


@dataclass(frozen=True)
class MulParams:
    input1_zero_point: int
    input2_zero_point: int
    multiplier: int
    shift: int
    output_zero_point: int
    activation_min: int
    activation_max: int
    rounding: str
    algorithm: str = "ref"        # "ref", "xnnpack_fp32" (x86) or "xnnpack_rndnu" (Arm)
    xnnpack_scale: float = 0.0    # float32 s1 * s2 / s_out
    table: np.ndarray | None = None  # int8 [65536]: the output of (a, b) at (a & 0xFF) << 8 | (b & 0xFF)


def prepare(op: Operator, tensors, profile: Profile) -> MulParams:
    (s1, z1), (s2, z2), (s_out, z_out), out = binary_int8_qparams(op, tensors)
    with np.errstate(over="ignore"):  # an overflow gives inf, rejected by quantize_multiplier
        real = np.float32(np.float32(s1) * np.float32(s2)) / np.float32(s_out)  # float32 math
    multiplier, shift = quantize_multiplier(float(real))
    lo, hi = activation_range(op, out, op.options["fused_activation_function"])
    algorithm, xnn_scale = "ref", 0.0
    if profile.xnnpack and xnnpack.mul_scale_supported(s1, s2, s_out):
        algorithm = "xnnpack_rndnu" if profile.arch == "aarch64" else "xnnpack_fp32"
        xnn_scale = float(real)
        lo, hi = xnnpack.activation_range(op.options["fused_activation_function"], s_out, z_out)
    params = MulParams(input1_zero_point=z1, input2_zero_point=z2, multiplier=multiplier,
                       shift=shift, output_zero_point=z_out, activation_min=lo, activation_max=hi,
                       rounding=profile.mul_rounding, algorithm=algorithm, xnnpack_scale=xnn_scale)
    table = _kernel(params, list(pairs_of_codes()))
    return replace(params, table=np.ascontiguousarray(table, dtype=np.int8))


def evaluate(params: MulParams, inputs: list) -> np.ndarray:
    a, b = np.asarray(inputs[0]), np.asarray(inputs[1])
    if params.table is not None and a.dtype == np.int8 and b.dtype == np.int8:
        return lookup_pairs(params.table, a, b)
    return _kernel(params, [a, b])


def _kernel(params: MulParams, inputs: list) -> np.ndarray:
    if params.algorithm != "ref":
        product = ((np.asarray(inputs[0], np.int64) - params.input1_zero_point)
                   * (np.asarray(inputs[1], np.int64) - params.input2_zero_point))
        kernel = xnnpack.requantize_fp32 if params.algorithm == "xnnpack_fp32" else xnnpack.requantize_rndnu
        return kernel(product, params.xnnpack_scale, params.output_zero_point,
                      params.activation_min, params.activation_max)
    return mul(inputs[0], inputs[1], input1_zero_point=params.input1_zero_point,
               input2_zero_point=params.input2_zero_point, multiplier=params.multiplier,
               shift=params.shift, output_zero_point=params.output_zero_point,
               activation_min=params.activation_min, activation_max=params.activation_max,
               rounding=params.rounding)
