"""HARD_SWISH int8: reference_ops::HardSwish (reference/hard_swish.h), §2.10.

Per element, in int16 fixed point (C int16 semantics reproduced exactly):
  v      = x - z_in;  hires = v * 2^7
  pre    = SRDHM16(hires, M_out16)                       (value on the output scale, unshifted)
  r      = hires; if e_relu > 0: r = SatLeftShift16(r, e_relu - 1)
  r      = SRDHM16(r, M_relu16); if e_relu > 0: r = SatLeftShift16(r, 1)
  if e_relu < 0: r = RDBPOT(r, -e_relu)                   (r: x / 3 in Q15, saturated to [-1, 1])
  r      = (r + 2^15) >> 1                                ("relu-ish" factor in [0, 1], Q15)
  y      = RDBPOT(SatDoublingHighMul16(r, pre), -e_out) + z_out, clamped to int8
SRDHM16 = gemmlowp SaturatingRoundingDoublingHighMul<int16> (nudge 2^14 or 1 - 2^14, C division
by 2^15); SatDoublingHighMul16 truncates toward zero (C division by 2^15).

hard_swish(..., neon=True): the vector loop of optimized_ops::HardSwish<int8> (optimized_ops.h), compiled
under __ARM_NEON only (the aarch64 wheels; the x86 wheels' NEON_2_SSE build skips it). The same
steps with the NEON instructions of the same names (vqrdmulh = SRDHM16, vqshl = SatLeftShift16,
vrhadd(r, 32767) = (r + 2^15) >> 1), except two: vqdmulh is (2ab) >> 16, a floor where the
reference's SaturatingDoublingHighMul truncates toward zero, and both right shifts are vrshl by a
negative amount, (r + 2^(n-1)) >> n, ties rounded up rather than away from zero. Measured under
qemu on the aarch64 wheels: both differences show (golden edge_hard_swish_scales).
"""
from __future__ import annotations

import numpy as np


INT16_MIN = -(1 << 15)
INT16_MAX = (1 << 15) - 1


def wrap_int16(x) -> np.ndarray:
    """static_cast<int16_t>: two's-complement wrap of int64 values."""
    v = np.asarray(x, dtype=np.int64)
    return ((v + (1 << 15)) & 0xFFFF) - (1 << 15)


def _c_div_pow2_15(x: np.ndarray) -> np.ndarray:
    """C division by 2^15 (truncation toward zero)."""
    q = np.abs(x) >> 15
    return np.where(x < 0, -q, q)


def srdhm_int16(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul(int16 a, int16 b)."""
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    overflow = (a64 == b64) & (a64 == INT16_MIN)
    ab = a64 * b64
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    out = wrap_int16(_c_div_pow2_15(ab + nudge))
    return np.where(overflow, INT16_MAX, out)


def saturating_doubling_high_mul_int16(a, b) -> np.ndarray:
    """reference_ops::SaturatingDoublingHighMul: (a * b) / 2^15 with C truncation (like SQDMULH)."""
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    overflow = (a64 == b64) & (a64 == INT16_MIN)
    out = wrap_int16(_c_div_pow2_15(a64 * b64))
    return np.where(overflow, INT16_MAX, out)


def saturating_left_shift_int16(x, amount: int) -> np.ndarray:
    """reference_ops::SaturatingLeftShift: x * 2^amount saturated to int16."""
    return np.clip(np.asarray(x, dtype=np.int64) * (1 << int(amount)), INT16_MIN, INT16_MAX)


def rounding_divide_by_pot_int16(x, exponent: int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT<int16_t>: as the int32 version, but the mask is an int16, so an
    exponent >= 16 makes it -1 (all ones), as the C code computes."""
    if not 0 <= exponent <= 31:
        raise ValueError(f"exponent {exponent} outside [0, 31]")
    v = np.asarray(x, dtype=np.int64)
    mask = int(wrap_int16((1 << exponent) - 1))
    remainder = v & mask
    threshold = (mask >> 1) + (v < 0)
    return wrap_int16((v >> exponent) + (remainder > threshold))


def saturating_doubling_high_mul_floor_int16(a, b) -> np.ndarray:
    """vqdmulh_s16: (2ab) >> 16, saturated (only -32768 x -32768 saturates)."""
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    return np.minimum((a64 * b64) >> 15, INT16_MAX)


def rounding_shift_right_half_up_int16(x, exponent: int) -> np.ndarray:
    """vrshlq_s16(x, -exponent): (x + 2^(exponent-1)) >> exponent in wide arithmetic, as int16."""
    v = np.asarray(x, dtype=np.int64)
    if exponent <= 0:
        return v
    return wrap_int16((v + (1 << (exponent - 1))) >> exponent)


def hard_swish(x: np.ndarray, *, input_zero_point: int, output_zero_point: int,
               output_multiplier: int, output_exponent: int, reluish_multiplier: int,
               reluish_exponent: int, neon: bool = False) -> np.ndarray:
    """reference_ops::HardSwish, or with `neon` the aarch64 vector loop (module docstring): the
    same steps, the two right shifts rounding ties up and the doubling high-mul flooring."""
    shift_right = rounding_shift_right_half_up_int16 if neon else rounding_divide_by_pot_int16
    doubling_high_mul = saturating_doubling_high_mul_floor_int16 if neon else saturating_doubling_high_mul_int16
    value = wrap_int16(np.asarray(x, dtype=np.int64) - int(input_zero_point))
    hires = wrap_int16(value * (1 << 7))
    preshift = srdhm_int16(hires, output_multiplier)
    reluish = saturating_left_shift_int16(hires, max(0, reluish_exponent - 1))
    reluish = srdhm_int16(reluish, reluish_multiplier)
    reluish = saturating_left_shift_int16(reluish, 1 if reluish_exponent > 0 else 0)
    reluish = shift_right(reluish, -min(0, reluish_exponent))
    reluish = (reluish + (1 << 15)) >> 1
    pre_out = doubling_high_mul(reluish, preshift)
    out = shift_right(pre_out, -output_exponent)
    out = wrap_int16(out + int(output_zero_point))
    return np.clip(out, -128, 127).astype(np.int8)
