"""Fixed-point primitives of TFLite's integer kernels, as exact NumPy int64 arithmetic.

Mirrors `kernels/internal/quantization_util.cc` (QuantizeMultiplier*), gemmlowp
`fixedpoint/fixedpoint.h` (SaturatingRoundingDoublingHighMul, RoundingDivideByPOT),
`kernels/internal/common.{h,cc}` (MultiplyByQuantizedMultiplier*) and `kernels/kernel_util.cc`
(CalculateActivationRangeQuantized). See docs/tflite-int8-arithmetic.md §1 and §2.0.

Conventions shared with TFLite: a multiplier is a pair (M0, shift) with M0 an int32 in
[2^30, 2^31) (or 0) and `shift` > 0 meaning a left shift; real value = M0 * 2^(shift - 31).
Array functions accept Python ints or integer arrays and compute in int64; values that are
int32 in C are wrapped to int32 exactly where C converts them.

Rounding variants of MultiplyByQuantizedMultiplier (the `rounding` argument):
  "dr_away"  double rounding, SRDHM then RoundingDivideByPOT (ties away from zero): the
             reference kernels of every shipped TFLite/LiteRT build (default build).
  "dr_up"    double rounding, SRDHM then rounding shift with ties toward +inf: NEON
             MultiplyByQuantizedMultiplier4Rows and ruy's x86 AVX kernels.
  "sr_up"    single rounding (x*M + 2^(30-shift)) >> (31-shift), ties toward +inf: ruy's
             standard C++ / ARM kernels and TFLITE_SINGLE_ROUNDING builds.
"""
from __future__ import annotations

import math
from typing import Union

import numpy as np

from .errors import CatrtError

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

DR_AWAY = "dr_away"
DR_UP = "dr_up"
SR_UP = "sr_up"
ROUNDINGS = (DR_AWAY, DR_UP, SR_UP)

ArrayLike = Union[int, np.ndarray]

# Fused activation codes of the schema (ActivationFunctionType) and their names.
ACTIVATION_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_ACTIVATION_CODES = {name: code for code, name in ACTIVATION_NAMES.items()}


def _as_int64(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _result(value: np.ndarray):
    """Return a NumPy int64 scalar for 0-d results, else the array."""
    return value[()] if np.ndim(value) == 0 else value


def wrap_int32(x: ArrayLike) -> np.ndarray:
    """Two's-complement wrap of int64 values to the int32 range (C's int32 overflow in practice)."""
    v = _as_int64(x)
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def round_half_away(x) -> np.ndarray:
    """std::round / TfLiteRound on float values: round half away from zero, exactly.

    Uses trunc + exact remainder, so values just below 0.5 are not pushed up by floor(|x|+0.5).
    Returns float64 (integral values); the input's precision (float32 or float64) is kept.
    """
    v = np.asarray(x)
    if not np.issubdtype(v.dtype, np.floating):
        v = v.astype(np.float64)
    with np.errstate(invalid="ignore"):
        t = np.trunc(v)
        frac = v - t  # exact for finite IEEE floats; NaN for +-inf, which then stays +-inf
        t = t + np.where(np.abs(frac) >= 0.5, np.sign(v), 0).astype(v.dtype)
    return t.astype(np.float64)


def float_to_int32_x86(x) -> np.ndarray:
    """static_cast<int32_t>(float) as compiled on x86 (cvttss2si / cvttsd2si): truncation, and
    INT32_MIN ("integer indefinite") for NaN and values outside the int32 range."""
    v = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(v) & (v > -2147483649.0) & (v < 2147483648.0)
    safe = np.where(ok, v, 0.0)
    return np.where(ok, np.trunc(safe).astype(np.int64), INT32_MIN)


def _round_half_away_scalar(v: float) -> int:
    t = math.trunc(v)
    if abs(v - t) >= 0.5:
        t += 1 if v > 0 else -1
    return int(t)


def quantize_multiplier(real_multiplier: float, single_rounding: bool = False) -> tuple[int, int]:
    """QuantizeMultiplier(double) -> (M0, shift), exactly as quantization_util.cc (§1.1).

    m == 0 -> (0, 0); q = frexp(m), M0 = round_half_away(q * 2^31); M0 == 2^31 -> (2^30, shift+1);
    shift < -31 -> (0, 0). Negative m is not rejected (gives a negative M0), like TFLite.
    single_rounding=True adds the TFLITE_SINGLE_ROUNDING clamp (shift > 30 -> (2^31-1, 30)).
    """
    m = float(real_multiplier)
    if not math.isfinite(m):
        raise CatrtError(f"quantize_multiplier: multiplier {real_multiplier!r} is not finite")
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = _round_half_away_scalar(q * (1 << 31))  # q * 2^31 is exact
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if single_rounding and shift > 30:
        shift = 30
        q_fixed = (1 << 31) - 1
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one_exp(real_multiplier: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: requires 0 < m < 1; returns (M0, left_shift <= 0)."""
    m = float(real_multiplier)
    if not (0.0 < m < 1.0):
        raise CatrtError(f"multiplier {real_multiplier!r} must lie in (0, 1) "
                         "(TFLite QuantizeMultiplierSmallerThanOneExp check)")
    multiplier, shift = quantize_multiplier(m)
    if shift > 0:  # cannot happen for m < 1, kept as TFLite's TFLITE_CHECK_LE
        raise CatrtError(f"multiplier {real_multiplier!r} gives a positive shift")
    return multiplier, shift


def srdhm(a: ArrayLike, b: ArrayLike):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values: floor((a*b + 2^30) / 2^31),
    saturating INT32_MIN * INT32_MIN to INT32_MAX."""
    a64 = _as_int64(a)
    b64 = _as_int64(b)
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    out = (a64 * b64 + (1 << 30)) >> 31
    out = np.where(overflow, INT32_MAX, out)
    return _result(out)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike):
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero,
    0 <= exponent <= 31."""
    x64 = _as_int64(x)
    e = _as_int64(exponent)
    if np.any(e < 0) or np.any(e > 31):
        raise CatrtError(f"rounding_divide_by_pot: exponent must be in [0, 31], got {exponent!r}")
    mask = (np.int64(1) << e) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0)
    out = (x64 >> e) + (remainder > threshold)
    return _result(out)


def _left_shift_wrap32(x: np.ndarray, left_shift: np.ndarray) -> np.ndarray:
    """wrap32(x * 2^left_shift) for int32 x; shifts >= 32 give 0 (all low bits shifted out)."""
    ls = np.minimum(left_shift, 32)
    return wrap_int32(x << ls)


def multiply_by_quantized_multiplier(x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike,
                                     rounding: str = DR_AWAY):
    """MultiplyByQuantizedMultiplier(int32 x, M0, shift) with the given rounding variant.

    `multiplier`/`shift` broadcast against `x` (per-channel: pass arrays over the last axis).
    x is taken as int32 (wrapped first, as the C parameter would be). Result is the int32 value
    (int64 dtype), before adding the output zero point.
    """
    x64 = wrap_int32(x)
    m = _as_int64(multiplier)
    s = _as_int64(shift)
    if rounding == SR_UP:
        if np.any(s < -31) or np.any(s > 30):
            raise CatrtError(f"single rounding needs -31 <= shift <= 30, got {shift!r}")
        total = 31 - s
        out = wrap_int32((x64 * m + (np.int64(1) << (total - 1))) >> total)
        return _result(out)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    if np.any(right > 31):
        raise CatrtError(f"multiplier shift {shift!r} is below -31")
    high = srdhm(_left_shift_wrap32(x64, left), m)
    high = _as_int64(high)
    if rounding == DR_AWAY:
        out = _as_int64(rounding_divide_by_pot(high, right))
    elif rounding == DR_UP:
        nudge = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
        out = (high + nudge) >> right
    else:
        raise CatrtError(f"unknown rounding {rounding!r}; expected one of {ROUNDINGS}")
    return _result(out)


def multiply_by_quantized_multiplier_int64(x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike):
    """MultiplyByQuantizedMultiplier(int64 x, M0, shift), the overload of the 16x8 kernels
    (common.cc; the same in the single- and double-rounding builds): the multiplier reduced to 15
    bits, one rounding half up.

    M' = M < 0x7FFF0000 ? (M + 2^15) >> 16 : 0x7FFF;  y = int32((x * M' + 2^(14 - shift)) >> (15 - shift)).
    TFLite assumes |x| < 2^47 and -31 <= shift < 8 (DCHECKs only); catrt refuses the rest.
    """
    x64 = _as_int64(x)
    m = _as_int64(multiplier)
    s = _as_int64(shift)
    if np.any(s < -31) or np.any(s > 7):
        raise CatrtError(f"the int64 MultiplyByQuantizedMultiplier needs -31 <= shift < 8, got {shift!r}")
    if x64.size and int(np.max(np.abs(x64))) >= 1 << 47:
        raise CatrtError("an int64 accumulator reaches 2^47: outside TFLite's 16x8 arithmetic")
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - s
    return _result(wrap_int32((x64 * reduced + (np.int64(1) << (total - 1))) >> total))


def multiply_by_quantized_multiplier_smaller_than_one_exp(x: ArrayLike, multiplier: ArrayLike,
                                                          left_shift: ArrayLike):
    """MultiplyByQuantizedMultiplierSmallerThanOneExp (ADD/SUB):
    RDBPOT(SRDHM(x, M), -left_shift)."""
    ls = _as_int64(left_shift)
    if np.any(ls > 0):
        raise CatrtError(f"left_shift must be <= 0, got {left_shift!r}")
    return rounding_divide_by_pot(srdhm(wrap_int32(x), multiplier), -ls)


def activation_code(activation) -> int:
    """Schema ActivationFunctionType code from a code or a name ("NONE", "RELU", "RELU6", ...)."""
    if isinstance(activation, str):
        try:
            return _ACTIVATION_CODES[activation.upper()]
        except KeyError:
            raise CatrtError(f"unknown fused activation {activation!r}") from None
    code = int(activation)
    if code not in ACTIVATION_NAMES:
        raise CatrtError(f"unknown fused activation code {code}")
    return code


def _quantize_activation_bound(value: float, scale: float, zero_point: int) -> int:
    """kernel_util.cc Quantize(): zero_point + int32(roundf(float(value) / float(scale)))."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.float32(value) / np.float32(scale)
    rounded = float(round_half_away(ratio))
    if not (-2147483648.0 <= rounded <= 2147483647.0):
        raise CatrtError(f"activation bound {value} / scale {scale} overflows int32 "
                         "(TFLite CalculateActivationRangeQuantized fails)")
    return int(wrap_int32(int(zero_point) + int(rounded)))


def activation_range_quantized(activation, scale: float, zero_point: int,
                               qmin: int = -128, qmax: int = 127) -> tuple[int, int]:
    """CalculateActivationRangeQuantized (§2.0): the [lo, hi] clamp of a fused activation.

    Q(v) = zero_point + round_half_away(float32(v) / float32(scale)) (float32 division).
    NONE and activations other than RELU/RELU6/RELU_N1_TO_1 give the full [qmin, qmax].
    """
    code = activation_code(activation)
    if code == 1:  # RELU
        return max(qmin, _quantize_activation_bound(0.0, scale, zero_point)), qmax
    if code == 3:  # RELU6
        return (max(qmin, _quantize_activation_bound(0.0, scale, zero_point)),
                min(qmax, _quantize_activation_bound(6.0, scale, zero_point)))
    if code == 2:  # RELU_N1_TO_1
        return (max(qmin, _quantize_activation_bound(-1.0, scale, zero_point)),
                min(qmax, _quantize_activation_bound(1.0, scale, zero_point)))
    return qmin, qmax
