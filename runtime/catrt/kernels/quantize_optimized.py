"""QUANTIZE in the optimized and XNNPACK paths (the reference ones are in kernels/quantize.py).

float32 -> int8:
  f64_divide_rha      optimized_ops::AffineQuantize without USE_NEON (tflite-runtime 2.14) and
                      its scalar leftovers: clamp(int32(TfLiteRound(double(x) / double(s))) + z)
  neon_reciprocal_rne optimized_ops::AffineQuantize under USE_NEON: the leading 8 * floor(n / 8)
                      flat elements clamp(vcvtnq(float32(x * float32(1 / double(s)))) + z)
                      (RoundToNearest = round half to even), the rest f64_divide_rha
  xnnpack             xnn_f32_qs8_vcvt (AVX2): sat8(sat16(cvtps(min(x * float32(1.0f / s), 32767)))
                      + z); cvtps gives INT32_MIN for NaN / out of range
int8 -> int8:
  requantize_neon     optimized_ops::Requantize<int8_t, int8_t> under USE_NEON: the leading
                      16 * floor(n / 16) flat elements with MultiplyByQuantizedMultiplier4Rows
                      ("dr_up"), the rest with the scalar MultiplyByQuantizedMultiplier
  convert_xnnpack     xnn_qs8_vcvt (AVX2 mulhrs with a Q8 multiplier M = lrintf(256 s_in / s_out)):
                      clamp(floor(((x - z_in) * M + 128) / 256) + z_out, -128, 127)
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import DR_UP, float_to_int32_x86, round_half_away, wrap_int32
from .quantize import requantize_int

_INT32_MIN = -(1 << 31)


def _cvtps_epi32(v: np.ndarray) -> np.ndarray:
    """cvtps2dq / vcvtnq on x86: round half to even; NaN and out-of-range give INT32_MIN."""
    v64 = np.asarray(v, dtype=np.float64)
    ok = np.isfinite(v64) & (v64 >= -2147483648.0) & (v64 < 2147483648.0)
    return np.where(ok, np.rint(np.where(ok, v64, 0.0)), _INT32_MIN).astype(np.int64)


def quantize_float_f64_rha(x: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.asarray(x, dtype=np.float32).astype(np.float64) / float(np.float32(scale))
    out = wrap_int32(float_to_int32_x86(round_half_away(ratio)) + int(zero_point))
    return np.clip(out, -128, 127).astype(np.int8)


def quantize_float_neon(x: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    out = quantize_float_f64_rha(x, scale=scale, zero_point=zero_point)
    vector = (out.size // 8) * 8
    if vector:
        reciprocal = np.float32(1.0 / float(np.float32(scale)))
        flat = np.asarray(x, dtype=np.float32).reshape(-1)[:vector]
        with np.errstate(over="ignore", invalid="ignore"):
            product = flat * reciprocal
        rounded = wrap_int32(_cvtps_epi32(product) + int(zero_point))
        result = out.reshape(-1).copy()
        result[:vector] = np.clip(rounded, -128, 127).astype(np.int8)
        out = result.reshape(out.shape)
    return out


def quantize_float_xnnpack(x: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    reciprocal = np.float32(1.0) / np.float32(scale)
    with np.errstate(over="ignore", invalid="ignore"):
        product = np.asarray(x, dtype=np.float32) * reciprocal
    # min_ps(product, 32767) returns its second operand for NaN.
    product = np.where(np.isnan(product), np.float32(32767.0), np.minimum(product, np.float32(32767.0)))
    as_int16 = np.clip(_cvtps_epi32(product), -32768, 32767)                  # packs_epi32
    return np.clip(np.clip(as_int16 + int(zero_point), -32768, 32767), -128, 127).astype(np.int8)


def requantize_neon(x: np.ndarray, *, input_zero_point: int, multiplier: int, shift: int,
                    output_zero_point: int, rounding: str) -> np.ndarray:
    out = requantize_int(x, input_zero_point=input_zero_point, multiplier=multiplier, shift=shift,
                         output_zero_point=output_zero_point, rounding=rounding)
    vector = (out.size // 16) * 16
    if vector:
        flat = np.asarray(x).reshape(-1)[:vector]
        head = requantize_int(flat, input_zero_point=input_zero_point, multiplier=multiplier,
                              shift=shift, output_zero_point=output_zero_point, rounding=DR_UP)
        result = out.reshape(-1).copy()
        result[:vector] = head
        out = result.reshape(out.shape)
    return out


def convert_xnnpack(x: np.ndarray, *, input_zero_point: int, multiplier: int,
                    output_zero_point: int) -> np.ndarray:
    centered = np.asarray(x, dtype=np.int64) - int(input_zero_point)
    out = ((centered * int(multiplier) + 128) >> 8) + int(output_zero_point)
    return np.clip(out, -128, 127).astype(np.int8)
