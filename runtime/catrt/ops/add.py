"""ADD int8 (add.cc Prepare, general 8-bit path + reference Add eval), §2.5. Under the USE_NEON
optimized kernels (profile.add_algorithm "neon") equal shapes take AddElementwiseInt8 and
broadcasts BroadcastAddDispatch (kernels/add_optimized.py); XNNPACK's formula is elementwise, so
broadcasting does not change it.

The reference and XNNPACK formulas are functions of the two int8 input values alone, so for them
prepare evaluates the kernel once on all 65 536 pairs and eval looks the outputs up
(kernels.lookup), the same integers without the int64 steps per element; the NEON kernels keep
their own path (a vector lane and the scalar tail round differently, so the output depends on the
element's position)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from ..errors import CatrtError
from ..fixed_point import quantize_multiplier_smaller_than_one_exp
from .. import xnnpack
from ..kernels.add import add
from ..kernels.add_optimized import add_neon, add_neon_broadcast, add_xnnpack
from ..kernels.lookup import lookup_pairs, pairs_of_codes
from ..profiles import Profile
from ..reader import Operator
from .common import activation_range, binary_int8_qparams

LEFT_SHIFT_INT8 = 20


@dataclass(frozen=True)
class AddParams:
    input1_zero_point: int
    input2_zero_point: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    output_zero_point: int
    activation_min: int
    activation_max: int
    algorithm: str = "ref"                   # "ref", "neon" or "xnnpack"
    xnnpack_params: Optional[tuple] = None   # (a_multiplier, b_multiplier, bias, shift, lo, hi)
    table: Optional[np.ndarray] = None       # int8 [65536], "ref" / "xnnpack" only: the output of
                                             # (a, b) at (a & 0xFF) << 8 | (b & 0xFF)


def prepare(op: Operator, tensors, profile: Profile) -> AddParams:
    (s1, z1), (s2, z2), (s_out, z_out), out = binary_int8_qparams(op, tensors)
    # 2 * max(float, float) is a float32 product; 2^20 * s_out likewise (exact).
    with np.errstate(over="ignore"):  # an overflow gives inf, rejected below
        twice_max = float(np.float32(2.0) * np.float32(max(s1, s2)))
        output_denominator = float(np.float32(1 << LEFT_SHIFT_INT8) * np.float32(s_out))
    try:
        m1, e1 = quantize_multiplier_smaller_than_one_exp(float(s1) / twice_max)
        m2, e2 = quantize_multiplier_smaller_than_one_exp(float(s2) / twice_max)
        mo, eo = quantize_multiplier_smaller_than_one_exp(twice_max / output_denominator)
    except CatrtError as exc:
        raise CatrtError(f"{op.label}: scales {s1}, {s2} -> {s_out}: {exc}") from None
    lo, hi = activation_range(op, out, op.options["fused_activation_function"])
    algorithm, xnn = profile.add_algorithm, None
    if profile.xnnpack and xnnpack.add_scales_supported(s1, s2, s_out):
        algorithm = "xnnpack"
        xnn = xnnpack.add_parameters(s1, z1, s2, z2, s_out) + xnnpack.activation_range(
            op.options["fused_activation_function"], s_out, z_out)
    params = AddParams(input1_zero_point=z1, input2_zero_point=z2, left_shift=LEFT_SHIFT_INT8,
                       input1_multiplier=m1, input1_shift=e1, input2_multiplier=m2, input2_shift=e2,
                       output_multiplier=mo, output_shift=eo, output_zero_point=z_out,
                       activation_min=lo, activation_max=hi, algorithm=algorithm,
                       xnnpack_params=xnn)
    if algorithm == "neon":
        return params
    return replace(params, table=np.ascontiguousarray(_kernel(params, list(pairs_of_codes())), dtype=np.int8))


def evaluate(params: AddParams, inputs: list) -> np.ndarray:
    a, b = np.asarray(inputs[0]), np.asarray(inputs[1])
    if params.table is not None and a.dtype == np.int8 and b.dtype == np.int8:
        return lookup_pairs(params.table, a, b)
    return _kernel(params, [a, b])


def _kernel(params: AddParams, inputs: list) -> np.ndarray:
    if params.algorithm == "xnnpack":
        a_mult, b_mult, bias, shift, lo, hi = params.xnnpack_params
        return add_xnnpack(inputs[0], inputs[1], a_multiplier=a_mult, b_multiplier=b_mult,
                           bias=bias, shift=shift, output_zero_point=params.output_zero_point,
                           activation_min=lo, activation_max=hi)
    kernel = add_neon_broadcast if params.algorithm == "neon" else add
    return kernel(inputs[0], inputs[1], input1_zero_point=params.input1_zero_point,
               input2_zero_point=params.input2_zero_point, left_shift=params.left_shift,
               input1_multiplier=params.input1_multiplier, input1_shift=params.input1_shift,
               input2_multiplier=params.input2_multiplier, input2_shift=params.input2_shift,
               output_multiplier=params.output_multiplier, output_shift=params.output_shift,
               output_zero_point=params.output_zero_point, activation_min=params.activation_min,
               activation_max=params.activation_max)
