"""MUL int8: reference_integer_ops::Mul / BroadcastMul (reference/integer_ops/mul.h), §2.6.

y = clamp(MultiplyByQuantizedMultiplier((a - z1) * (b - z2), M, shift) + z_out, lo, hi),
with (M, shift) from the float32 value s1*s2/s_out. Broadcasting as NumPy.
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import multiply_by_quantized_multiplier, wrap_int32


def mul(a: np.ndarray, b: np.ndarray, *, input1_zero_point: int, input2_zero_point: int,
        multiplier: int, shift: int, output_zero_point: int, activation_min: int,
        activation_max: int, rounding: str) -> np.ndarray:
    product = wrap_int32((np.asarray(a, np.int64) - int(input1_zero_point))
                         * (np.asarray(b, np.int64) - int(input2_zero_point)))
    scaled = np.asarray(multiply_by_quantized_multiplier(product, multiplier, shift, rounding))
    out = wrap_int32(scaled + int(output_zero_point))
    return np.clip(out, activation_min, activation_max).astype(np.int8)
