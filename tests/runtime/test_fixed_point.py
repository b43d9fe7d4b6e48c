"""Fixed-point primitives: exact expected values for the edge cases, plus a brute-force check of
the vectorised functions against scalar Python transcriptions of gemmlowp / TFLite."""
from __future__ import annotations

import math

import numpy as np
import pytest

from catrt import CatrtError
from catrt.fixed_point import (INT32_MAX, INT32_MIN, activation_range_quantized,
                               float_to_int32_x86, multiply_by_quantized_multiplier,
                               multiply_by_quantized_multiplier_smaller_than_one_exp,
                               quantize_multiplier, quantize_multiplier_smaller_than_one_exp,
                               round_half_away, rounding_divide_by_pot, srdhm, wrap_int32)


# ---- scalar transcriptions of the C code (independent of catrt's vectorised formulas) ----------

def c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def ref_srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return c_div(ab + nudge, 1 << 31)


def ref_rdbpot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def ref_wrap(v: int) -> int:
    return ((v + (1 << 31)) % (1 << 32)) - (1 << 31)


def ref_mbqm(x: int, m: int, shift: int, rounding: str) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    if rounding == "sr_up":
        total = 31 - shift
        return ref_wrap((x * m + (1 << (total - 1))) >> total)
    t = ref_srdhm(ref_wrap(x * (1 << left)), m)
    if rounding == "dr_away":
        return ref_rdbpot(t, right)
    return (t + ((1 << (right - 1)) if right else 0)) >> right  # dr_up: vrshl


# ---- QuantizeMultiplier -------------------------------------------------------------------------

@pytest.mark.parametrize("m, expected", [
    (0.0, (0, 0)),
    (0.5, (1 << 30, 0)),
    (1.0, (1 << 30, 1)),
    (0.25, (1 << 30, -1)),
    (0.75, (3 << 29, 0)),
    (0.3, (1288490189, -1)),               # 0.6 * 2^31 = 1288490188.8 -> rounds up
    (1.0 - 2.0 ** -33, (1 << 30, 1)),      # q_fixed rounds to 2^31 -> (2^30, shift + 1)
    ((1.0 - 2.0 ** -33) * 2.0 ** -5, (1 << 30, -4)),
    (2.0 ** -32, (1 << 30, -31)),          # smallest that survives
    (2.0 ** -33, (0, 0)),                  # shift < -31 -> flushed to zero
    (1e-12, (0, 0)),
    (-0.5, (-(1 << 30), 0)),               # negative m is not rejected
    (-0.75, (-(3 << 29), 0)),
    (3.0, (3 << 29, 2)),
])
def test_quantize_multiplier(m, expected):
    assert quantize_multiplier(m) == expected


def test_quantize_multiplier_matches_frexp_definition():
    rng = np.random.default_rng(0)
    for m in rng.uniform(1e-6, 50.0, size=2000):
        multiplier, shift = quantize_multiplier(float(m))
        q, e = math.frexp(float(m))
        assert (1 << 30) <= multiplier < (1 << 31)
        assert abs(multiplier * 2.0 ** (shift - 31) - m) <= 2.0 ** (shift - 32)


def test_quantize_multiplier_single_rounding_saturates_large_shifts():
    assert quantize_multiplier(2.0 ** 31, single_rounding=True) == ((1 << 31) - 1, 30)
    assert quantize_multiplier(2.0 ** 31) == (1 << 30, 32)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_quantize_multiplier_rejects_non_finite(bad):
    with pytest.raises(CatrtError):
        quantize_multiplier(bad)


def test_quantize_multiplier_smaller_than_one_exp():
    assert quantize_multiplier_smaller_than_one_exp(0.5) == (1 << 30, 0)
    assert quantize_multiplier_smaller_than_one_exp(0.125) == (1 << 30, -2)
    for bad in (0.0, 1.0, 1.5, -0.25):
        with pytest.raises(CatrtError):
            quantize_multiplier_smaller_than_one_exp(bad)


# ---- SRDHM / RoundingDivideByPOT ---------------------------------------------------------------

def test_srdhm_edge_cases():
    assert srdhm(INT32_MIN, INT32_MIN) == INT32_MAX
    assert srdhm(INT32_MIN, INT32_MAX) == -INT32_MAX
    assert srdhm(1 << 30, 1 << 30) == 1 << 29
    assert srdhm(1, 1 << 30) == 1            # +0.5 rounds up
    assert srdhm(-1, 1 << 30) == 0           # -0.5 rounds up (toward +inf)
    assert srdhm(-3, 1 << 30) == -1          # -1.5 -> -1
    assert srdhm(3, 1 << 30) == 2            # +1.5 -> 2
    assert srdhm(0, INT32_MIN) == 0


def test_rounding_divide_by_pot_edge_cases():
    assert rounding_divide_by_pot(5, 1) == 3       # 2.5 -> 3
    assert rounding_divide_by_pot(-5, 1) == -3     # -2.5 -> -3 (away)
    assert rounding_divide_by_pot(-6, 2) == -2     # -1.5 -> -2
    assert rounding_divide_by_pot(-5, 2) == -1     # -1.25 -> -1
    assert rounding_divide_by_pot(7, 0) == 7
    assert rounding_divide_by_pot(INT32_MIN, 31) == -1
    assert rounding_divide_by_pot(INT32_MAX, 31) == 1
    assert rounding_divide_by_pot(-(1 << 30), 31) == -1   # -0.5 -> -1
    with pytest.raises(CatrtError):
        rounding_divide_by_pot(1, 32)
    with pytest.raises(CatrtError):
        rounding_divide_by_pot(1, -1)


def test_vectorised_primitives_match_scalar_transcription():
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.integers(INT32_MIN, INT32_MAX, 3000, dtype=np.int64),
                        [INT32_MIN, INT32_MAX, 0, 1, -1]])
    b = np.concatenate([rng.integers(INT32_MIN, INT32_MAX, 3000, dtype=np.int64),
                        [INT32_MIN, INT32_MIN, INT32_MIN, 1 << 30, 1 << 30]])
    got = srdhm(a, b)
    assert [int(v) for v in got] == [ref_srdhm(int(x), int(y)) for x, y in zip(a, b)]
    e = rng.integers(0, 32, a.size)
    got = rounding_divide_by_pot(a, e)
    assert [int(v) for v in got] == [ref_rdbpot(int(x), int(k)) for x, k in zip(a, e)]


# ---- MultiplyByQuantizedMultiplier ---------------------------------------------------------------

def test_mbqm_negative_tie_separates_dr_away_and_dr_up():
    # real multiplier 0.25 = (2^30, -1): x = -2 -> SRDHM = -1 -> -1/2 is a negative tie.
    assert multiply_by_quantized_multiplier(-2, 1 << 30, -1, "dr_away") == -1
    assert multiply_by_quantized_multiplier(-2, 1 << 30, -1, "dr_up") == 0
    assert multiply_by_quantized_multiplier(-2, 1 << 30, -1, "sr_up") == 0
    # positive ties agree
    for rounding in ("dr_away", "dr_up", "sr_up"):
        assert multiply_by_quantized_multiplier(2, 1 << 30, -1, rounding) == 1


def test_mbqm_double_vs_single_rounding():
    # x * 0.25 = 0.25: double rounding rounds twice (0.5 then 1), single rounding gives 0.
    assert multiply_by_quantized_multiplier(1, 1 << 30, -1, "dr_away") == 1
    assert multiply_by_quantized_multiplier(1, 1 << 30, -1, "dr_up") == 1
    assert multiply_by_quantized_multiplier(1, 1 << 30, -1, "sr_up") == 0


def test_mbqm_left_shift_and_wrap():
    assert multiply_by_quantized_multiplier(5, 1 << 30, 2) == 10          # * 2.0
    assert multiply_by_quantized_multiplier(1 << 30, 1 << 30, 2) == 0     # x * 4 wraps to 0
    assert multiply_by_quantized_multiplier(INT32_MIN, INT32_MIN, 0) == INT32_MAX
    assert multiply_by_quantized_multiplier(123, 0, 0) == 0               # flushed multiplier
    # x is wrapped to int32 first, as the C parameter would be
    assert multiply_by_quantized_multiplier((1 << 32) + 7, 1 << 30, 1) == 7


def test_mbqm_per_channel_broadcast():
    x = np.array([[10, 10, 10], [-7, -7, -7]])
    m = np.array([1 << 30, 1 << 30, 3 << 29])
    s = np.array([0, -2, 1])
    got = multiply_by_quantized_multiplier(x, m, s)
    assert got.tolist() == [[5, 1, 15], [-3, -1, -10]]


@pytest.mark.parametrize("rounding", ["dr_away", "dr_up", "sr_up"])
def test_mbqm_matches_scalar_transcription(rounding):
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.integers(-(1 << 24), 1 << 24, 1500), rng.integers(-300, 300, 1500)])
    m = rng.integers(1 << 30, 1 << 31, x.size)
    s = rng.integers(-31, 8 if rounding != "sr_up" else 8, x.size)
    got = multiply_by_quantized_multiplier(x, m, s, rounding)
    want = [ref_mbqm(int(a), int(b), int(c), rounding) for a, b, c in zip(x, m, s)]
    assert [int(v) for v in got] == want


def test_mbqm_rejects_unknown_rounding_and_bad_shift():
    with pytest.raises(CatrtError):
        multiply_by_quantized_multiplier(1, 1 << 30, 0, "nearest")
    with pytest.raises(CatrtError):
        multiply_by_quantized_multiplier(1, 1 << 30, 31, "sr_up")
    with pytest.raises(CatrtError):
        multiply_by_quantized_multiplier(1, 1 << 30, -32)


def test_mbqm_smaller_than_one_exp():
    assert multiply_by_quantized_multiplier_smaller_than_one_exp(-3 << 19, 1 << 30, -19) == -2
    with pytest.raises(CatrtError):
        multiply_by_quantized_multiplier_smaller_than_one_exp(1, 1 << 30, 1)


# ---- rounding helpers ---------------------------------------------------------------------------

def test_round_half_away():
    values = [0.5, -0.5, 1.5, -1.5, 2.5, 0.49999999999999994, -0.49999999999999994, 1.4999999]
    assert round_half_away(np.array(values)).tolist() == [1, -1, 2, -2, 3, 0, 0, 1]
    assert round_half_away(np.float32(2.5)) == 3.0
    assert np.isinf(round_half_away(np.array([np.inf]))[0])


def test_float_to_int32_x86():
    got = float_to_int32_x86(np.array([np.nan, 3e9, -3e9, np.inf, -2.7, 2.7, 2147483647.0]))
    assert got.tolist() == [INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, -2, 2, INT32_MAX]


def test_wrap_int32():
    assert wrap_int32(np.array([1 << 31, -(1 << 31) - 1, 5])).tolist() == [INT32_MIN, INT32_MAX, 5]


# ---- CalculateActivationRangeQuantized -----------------------------------------------------------

def test_activation_ranges():
    assert activation_range_quantized("NONE", 0.1, 5) == (-128, 127)
    assert activation_range_quantized("RELU", 0.1, -5) == (-5, 127)
    assert activation_range_quantized(1, 0.1, -200) == (-128, 127)
    assert activation_range_quantized("RELU6", 0.05, -128) == (-128, -8)
    assert activation_range_quantized("RELU6", 0.1, 10) == (10, 70)
    assert activation_range_quantized("TANH", 0.1, 10) == (-128, 127)
    with pytest.raises(CatrtError):
        activation_range_quantized("SWISH", 0.1, 0)


def test_activation_range_uses_float32_division():
    # 1 / f32(0.4) is 2.49999996 in double (rounds to 2) but 2.5 in float32 (rounds to 3).
    assert 1.0 / float(np.float32(0.4)) < 2.5
    assert activation_range_quantized("RELU_N1_TO_1", 0.4, 0) == (-3, 3)


def test_activation_range_overflow_is_an_error():
    with pytest.raises(CatrtError):
        activation_range_quantized("RELU6", 1e-12, 0)
