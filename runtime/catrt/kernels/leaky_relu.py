"""LEAKY_RELU int8: reference_ops::QuantizeLeakyRelu (reference/leaky_relu.h), the int8 kernel of
every TFLite resolver (activations.cc LeakyReluEval: the optimized kernel exists for int16 only),
and XNNPACK's qs8 vlrelu microkernel for delegated nodes.

Reference, per element with v = x - z_in:
  y = clamp(z_out + MultiplyByQuantizedMultiplier(v, M_identity, e_identity), -128, 127)  if v >= 0
  y = clamp(z_out + MultiplyByQuantizedMultiplier(v, M_alpha, e_alpha), -128, 127)        if v < 0
with (M, e) = QuantizeMultiplier of f32(s_in / s_out) and f32(f32(s_in * alpha) / s_out)
(LeakyReluPrepare computes both products in float32). M_alpha < 0 for a negative alpha; the
double-rounding MultiplyByQuantizedMultiplier of the pinned wheels takes it as it is.

XNNPACK @ 77468446 (src/qs8-vlrelu/gen/qs8-vlrelu-avx2-u32.c, xnn_init_qs8_lrelu_scalar_params):
  m = x > z_in ? M_pos : M_neg, Q8 multipliers lrintf(256 * scale) (xnnpack.leaky_relu_multipliers)
  y = sat8(z_out + mulhrs(int16((z_in - x) * 128), int16(-m)))
    = sat8(z_out + floor(((x - z_in) * m + 128) / 256))        (round half up)
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import DR_AWAY, multiply_by_quantized_multiplier


def leaky_relu(x: np.ndarray, *, input_zero_point: int, output_zero_point: int, identity_multiplier: int,
               identity_shift: int, alpha_multiplier: int, alpha_shift: int) -> np.ndarray:
    v = np.asarray(x, np.int64) - int(input_zero_point)
    positive = np.asarray(multiply_by_quantized_multiplier(v, identity_multiplier, identity_shift, DR_AWAY))
    negative = np.asarray(multiply_by_quantized_multiplier(v, alpha_multiplier, alpha_shift, DR_AWAY))
    out = np.where(v >= 0, positive, negative) + int(output_zero_point)
    return np.clip(out, -128, 127).astype(np.int8)


def _wrap_int16(v) -> np.ndarray:
    v = np.asarray(v, np.int64)
    return ((v + (1 << 15)) & 0xFFFF) - (1 << 15)


def leaky_relu_xnnpack(x: np.ndarray, *, input_zero_point: int, output_zero_point: int,
                       positive_multiplier: int, negative_multiplier: int) -> np.ndarray:
    x64 = np.asarray(x, np.int64)
    multiplier = np.where(x64 > int(input_zero_point), positive_multiplier, negative_multiplier)
    shifted = _wrap_int16((int(input_zero_point) - x64) * 128)
    high = (shifted * _wrap_int16(-multiplier) + (1 << 14)) >> 15     # _mm256_mulhrs_epi16
    out = np.clip(_wrap_int16(high) + int(output_zero_point), -(1 << 15), (1 << 15) - 1)
    return np.clip(out, -128, 127).astype(np.int8)
