"""ADD int8 in the optimized and XNNPACK paths.

neon: optimized_integer_ops::AddElementwiseInt8 under USE_NEON (optimized/integer_ops/add.h;
TF 2.19 / LiteRT 2.1.0 on x86 through NEON_2_SSE). The leading 16 * floor(n / 16) flat elements:
  x_i = SRDHM(wrap32((v_i - z_i) << (20 + e_i)), M_i)   (a negative total shift is a plain >>)
  s   = RoundingDivideByPOT(SRDHM(x_1 + x_2, M_o), -e_o)
  y   = clamp(sat8(wrap16(wrap16(s) + z_out)), lo, hi)
the remaining elements use reference_integer_ops::Add (kernels/add.py).

neon, broadcast (add_neon_broadcast): add.cc sends operands whose shapes differ (after extension
to the same rank) to optimized_integer_ops::BroadcastAddDispatch. ProcessBroadcastShapes
(reference/process_broadcast_shapes.h) folds them into five dimensions y0..y4; a shape pair it
cannot fold runs reference BroadcastAdd6DSlow. BinaryBroadcastFiveFold
(optimized/optimized_ops.h) then walks the output in order:
  - y4 > 1: AddElementwiseInt8 on runs of y4 elements: in each run the leading 16 * floor(y4 / 16)
    elements take the formula above, the rest the reference one;
  - y4 = 1: AddScalarBroadcast on runs of y3 elements against one element of the other input: the
    leading 8 * floor(y3 / 8) take its vector formula, whose input rescale ends in a plain
    arithmetic shift (vshlq_s32 by e_i <= 0, i.e. floor) instead of RoundingDivideByPOT:
      x_i = SRDHM(wrap32((v_i - z_i) << 20), M_i) >> -e_i
    and the output as above; the rest the reference formula.
Both formulas treat the two inputs alike, so the operand swap of the kernel does not matter.

xnnpack: xnn_qs8_vadd_minmax ukernels with xnn_init_qs8_add_minmax_scalar_params (catrt.xnnpack):
  y = clamp(((bias + a * a_multiplier + b * b_multiplier) >> shift) + z_out, lo, hi)  (int32, floor)
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import rounding_divide_by_pot, srdhm, wrap_int32
from .add import add as add_reference

NEON_BLOCK = 16
SCALAR_BROADCAST_BLOCK = 8


def _shift_wrap32(x: np.ndarray, left_shift: int) -> np.ndarray:
    """vshlq_s32: a left shift that wraps, or an arithmetic right shift for a negative count."""
    if left_shift >= 0:
        return wrap_int32(x << min(left_shift, 32))
    return x >> min(-left_shift, 63)


def _elementwise_vector(a: np.ndarray, b: np.ndarray, params: dict) -> np.ndarray:
    """The USE_NEON loop of AddElementwiseInt8 on flat int64 operands (int8 results)."""
    x1 = _shift_wrap32(a - int(params["input1_zero_point"]), params["left_shift"] + params["input1_shift"])
    x2 = _shift_wrap32(b - int(params["input2_zero_point"]), params["left_shift"] + params["input2_shift"])
    x1 = np.asarray(srdhm(x1, params["input1_multiplier"]), np.int64)
    x2 = np.asarray(srdhm(x2, params["input2_multiplier"]), np.int64)
    return _vector_output(wrap_int32(x1 + x2), params)


def _scalar_broadcast_vector(a: np.ndarray, b: np.ndarray, params: dict) -> np.ndarray:
    """The USE_NEON loop of AddScalarBroadcast on flat int64 operands (int8 results)."""
    x1 = np.asarray(srdhm(_shift_wrap32(a - int(params["input1_zero_point"]), params["left_shift"]),
                          params["input1_multiplier"]), np.int64)
    x2 = np.asarray(srdhm(_shift_wrap32(b - int(params["input2_zero_point"]), params["left_shift"]),
                          params["input2_multiplier"]), np.int64)
    x1 = _shift_wrap32(x1, params["input1_shift"])
    x2 = _shift_wrap32(x2, params["input2_shift"])
    return _vector_output(wrap_int32(x1 + x2), params)


def _vector_output(total: np.ndarray, params: dict) -> np.ndarray:
    scaled = np.asarray(srdhm(total, params["output_multiplier"]), np.int64)
    scaled = np.asarray(rounding_divide_by_pot(scaled, -params["output_shift"]), np.int64)
    narrow = ((scaled + (1 << 15)) & 0xFFFF) - (1 << 15)                 # vmovn_s32
    with_zero = ((narrow + int(params["output_zero_point"]) + (1 << 15)) & 0xFFFF) - (1 << 15)
    saturated = np.clip(with_zero, -128, 127)                              # vqmovn_s16
    return np.clip(saturated, params["activation_min"], params["activation_max"]).astype(np.int8)


def add_neon(a: np.ndarray, b: np.ndarray, **params) -> np.ndarray:
    out = add_reference(a, b, **params)
    n = out.size
    vector = (n // NEON_BLOCK) * NEON_BLOCK
    if vector == 0:
        return out
    flat_a = np.asarray(a, np.int64).reshape(-1)[:vector]
    flat_b = np.asarray(b, np.int64).reshape(-1)[:vector]
    flat_out = out.reshape(-1).copy()
    flat_out[:vector] = _elementwise_vector(flat_a, flat_b, params)
    return flat_out.reshape(out.shape)


def five_fold_shape(shape1: tuple, shape2: tuple) -> tuple[str, tuple | None]:
    """ProcessBroadcastShapes: ("elementwise", None) for shapes equal after extension to one rank,
    ("five-fold", (y0, y1, y2, y3, y4)) for a broadcast the five-fold loop handles, ("generic",
    None) otherwise."""
    rank = max(len(shape1), len(shape2))
    s1 = (1,) * (rank - len(shape1)) + tuple(int(d) for d in shape1)
    s2 = (1,) * (rank - len(shape2)) + tuple(int(d) for d in shape2)
    if s1 == s2:
        return "elementwise", None
    fast = None
    for i in range(rank - 1, -1, -1):
        if s1[i] == s2[i]:
            continue
        if s1[i] == 1:
            fast = 1
        elif s2[i] == 1:
            fast = 2
        else:
            return "generic", None
        break
    shape_a, shape_b = (s1, s2) if fast == 1 else (s2, s1)
    y = [1, 1, 1, 1, 1]
    i = rank - 1
    for slot, rule in ((4, "equal"), (3, "a_one"), (2, "equal"), (1, "b_one"), (0, "equal")):
        while i >= 0 and ((shape_a[i] == shape_b[i]) if rule == "equal"
                          else (shape_a[i] == 1 if rule == "a_one" else shape_b[i] == 1)):
            y[slot] *= shape_a[i] if rule == "b_one" else shape_b[i]
            i -= 1
    return ("generic", None) if i >= 0 else ("five-fold", tuple(y))


def add_neon_broadcast(a: np.ndarray, b: np.ndarray, **params) -> np.ndarray:
    """BroadcastAddDispatch under USE_NEON (see the module docstring)."""
    a, b = np.asarray(a), np.asarray(b)
    category, folded = five_fold_shape(a.shape, b.shape)
    if category == "elementwise":
        return add_neon(a, b, **params)
    if category == "generic":
        return add_reference(a, b, **params)  # BroadcastAdd6DSlow
    out = add_reference(a, b, **params)
    flat_a, flat_b = (np.broadcast_to(v, out.shape).astype(np.int64).reshape(-1) for v in (a, b))
    position = np.arange(out.size)
    run = folded[4] if folded[4] > 1 else folded[3]
    block = NEON_BLOCK if folded[4] > 1 else SCALAR_BROADCAST_BLOCK
    lanes = position % run < (run // block) * block
    formula = _elementwise_vector if folded[4] > 1 else _scalar_broadcast_vector
    flat_out = out.reshape(-1).copy()
    flat_out[lanes] = formula(flat_a[lanes], flat_b[lanes], params)
    return flat_out.reshape(out.shape)


def add_xnnpack(a: np.ndarray, b: np.ndarray, *, a_multiplier: int, b_multiplier: int, bias: int,
                shift: int, output_zero_point: int, activation_min: int,
                activation_max: int) -> np.ndarray:
    acc = wrap_int32(int(bias) + np.asarray(a, np.int64) * int(a_multiplier)
                     + np.asarray(b, np.int64) * int(b_multiplier))
    out = (acc >> int(shift)) + int(output_zero_point)
    return np.clip(out, activation_min, activation_max).astype(np.int8)
