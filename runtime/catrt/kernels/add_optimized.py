"""ADD int8 in the optimized and XNNPACK paths (same operand shapes; broadcasting uses the
reference formula, see ops/add.py).

neon: optimized_integer_ops::AddElementwiseInt8 under USE_NEON (optimized/integer_ops/add.h;
TF 2.19 / LiteRT 2.1.0 on x86 through NEON_2_SSE). The leading 16 * floor(n / 16) flat elements:
  x_i = SRDHM(wrap32((v_i - z_i) << (20 + e_i)), M_i)   (a negative total shift is a plain >>)
  s   = RoundingDivideByPOT(SRDHM(x_1 + x_2, M_o), -e_o)
  y   = clamp(sat8(wrap16(wrap16(s) + z_out)), lo, hi)
the remaining elements use reference_integer_ops::Add (kernels/add.py).

xnnpack: xnn_qs8_vadd_minmax ukernels with xnn_init_qs8_add_minmax_scalar_params (catrt.xnnpack):
  y = clamp(((bias + a * a_multiplier + b * b_multiplier) >> shift) + z_out, lo, hi)  (int32, floor)
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import rounding_divide_by_pot, srdhm, wrap_int32
from .add import add as add_reference

NEON_BLOCK = 16


def _shift_wrap32(x: np.ndarray, left_shift: int) -> np.ndarray:
    """vshlq_s32: a left shift that wraps, or an arithmetic right shift for a negative count."""
    if left_shift >= 0:
        return wrap_int32(x << min(left_shift, 32))
    return x >> min(-left_shift, 63)


def add_neon(a: np.ndarray, b: np.ndarray, **params) -> np.ndarray:
    out = add_reference(a, b, **params)
    n = out.size
    vector = (n // NEON_BLOCK) * NEON_BLOCK
    if vector == 0:
        return out
    flat_a = np.asarray(a, np.int64).reshape(-1)[:vector]
    flat_b = np.asarray(b, np.int64).reshape(-1)[:vector]
    x1 = _shift_wrap32(flat_a - int(params["input1_zero_point"]),
                       params["left_shift"] + params["input1_shift"])
    x2 = _shift_wrap32(flat_b - int(params["input2_zero_point"]),
                       params["left_shift"] + params["input2_shift"])
    x1 = np.asarray(srdhm(x1, params["input1_multiplier"]), np.int64)
    x2 = np.asarray(srdhm(x2, params["input2_multiplier"]), np.int64)
    total = wrap_int32(x1 + x2)
    scaled = np.asarray(srdhm(total, params["output_multiplier"]), np.int64)
    scaled = np.asarray(rounding_divide_by_pot(scaled, -params["output_shift"]), np.int64)
    narrow = ((scaled + (1 << 15)) & 0xFFFF) - (1 << 15)                 # vmovn_s32
    with_zero = ((narrow + int(params["output_zero_point"]) + (1 << 15)) & 0xFFFF) - (1 << 15)
    saturated = np.clip(with_zero, -128, 127)                              # vqmovn_s16
    clamped = np.clip(saturated, params["activation_min"], params["activation_max"])
    flat_out = out.reshape(-1).copy()
    flat_out[:vector] = clamped.astype(np.int8)
    return flat_out.reshape(out.shape)


def add_xnnpack(a: np.ndarray, b: np.ndarray, *, a_multiplier: int, b_multiplier: int, bias: int,
                shift: int, output_zero_point: int, activation_min: int,
                activation_max: int) -> np.ndarray:
    acc = wrap_int32(int(bias) + np.asarray(a, np.int64) * int(a_multiplier)
                     + np.asarray(b, np.int64) * int(b_multiplier))
    out = (acc >> int(shift)) + int(output_zero_point)
    return np.clip(out, activation_min, activation_max).astype(np.int8)
