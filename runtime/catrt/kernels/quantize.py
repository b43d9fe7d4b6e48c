"""QUANTIZE: reference_ops::AffineQuantize (float32 -> int8) and reference_ops::Requantize
(int8 -> int8), reference/quantize.h and reference/requantize.h, §2.9.

float -> int8 (REF): clamp(int32(round_half_away(float32(x / float32(scale)))) + z, -128, 127),
the int32 conversion as compiled on x86 (NaN / out of range -> INT32_MIN).
int8 -> int8: clamp(MultiplyByQuantizedMultiplier(x - z_in, M, shift) + z_out, -128, 127),
(M, shift) from double(s_in) / double(s_out).
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import (float_to_int32_x86, multiply_by_quantized_multiplier, round_half_away,
                           wrap_int32)


def quantize_float(x: np.ndarray, *, scale: float, zero_point: int, qmin: int = -128,
                   qmax: int = 127, out_dtype=np.int8) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.asarray(x, dtype=np.float32) / np.float32(scale)
    as_int = float_to_int32_x86(round_half_away(ratio))
    out = wrap_int32(as_int + int(zero_point))
    return np.clip(out, qmin, qmax).astype(out_dtype)


def requantize_int(x: np.ndarray, *, input_zero_point: int, multiplier: int, shift: int,
                   output_zero_point: int, rounding: str, qmin: int = -128, qmax: int = 127,
                   out_dtype=np.int8) -> np.ndarray:
    centered = np.asarray(x, dtype=np.int64) - int(input_zero_point)
    scaled = np.asarray(multiply_by_quantized_multiplier(centered, multiplier, shift, rounding))
    out = wrap_int32(scaled + int(output_zero_point))
    return np.clip(out, qmin, qmax).astype(out_dtype)
