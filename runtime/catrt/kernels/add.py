"""ADD int8: reference_integer_ops::Add / BroadcastAdd (reference/integer_ops/add.h), §2.5.

a' = (a - z1) * 2^left_shift, b' likewise (left_shift = 20 for int8);
s  = MBQMSmallerThanOneExp(a', M1, e1) + MBQMSmallerThanOneExp(b', M2, e2)   (int32)
y  = clamp(MBQMSmallerThanOneExp(s, Mo, eo) + z_out, lo, hi)
MBQMSmallerThanOneExp(x, M, e) = RoundingDivideByPOT(SRDHM(x, M), -e). Broadcasting as NumPy.
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import multiply_by_quantized_multiplier_smaller_than_one_exp as mbqm_lt1
from ..fixed_point import wrap_int32


def add(a: np.ndarray, b: np.ndarray, *, input1_zero_point: int, input2_zero_point: int,
        left_shift: int, input1_multiplier: int, input1_shift: int, input2_multiplier: int,
        input2_shift: int, output_multiplier: int, output_shift: int, output_zero_point: int,
        activation_min: int, activation_max: int) -> np.ndarray:
    a_shifted = wrap_int32((np.asarray(a, np.int64) - int(input1_zero_point)) << left_shift)
    b_shifted = wrap_int32((np.asarray(b, np.int64) - int(input2_zero_point)) << left_shift)
    a_scaled = np.asarray(mbqm_lt1(a_shifted, input1_multiplier, input1_shift))
    b_scaled = np.asarray(mbqm_lt1(b_shifted, input2_multiplier, input2_shift))
    raw_sum = wrap_int32(a_scaled + b_scaled)
    out = wrap_int32(np.asarray(mbqm_lt1(raw_sum, output_multiplier, output_shift))
                     + int(output_zero_point))
    return np.clip(out, activation_min, activation_max).astype(np.int8)
