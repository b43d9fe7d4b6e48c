"""PRELU int8: reference_ops::BroadcastPrelu4DSlow / Prelu (reference/prelu.h), the int8 kernel of
every TFLite resolver (activations.cc PreluEval has no optimized int8 path; XNNPACK's delegate
takes float32 PRELU only).

Per element, with v = x - z_in and the broadcast slope code a:
  y = clamp(z_out + MultiplyByQuantizedMultiplier(v, M_1, e_1), -128, 127)                 if v >= 0
  y = clamp(z_out + MultiplyByQuantizedMultiplier(v * (a - z_a), M_2, e_2), -128, 127)     if v < 0
with (M, e) = QuantizeMultiplier of f32(s_in / s_out) and f32(f32(s_in * s_a) / s_out).
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import DR_AWAY, multiply_by_quantized_multiplier, wrap_int32


def prelu(x: np.ndarray, alpha: np.ndarray, *, input_zero_point: int, alpha_zero_point: int,
          output_zero_point: int, multiplier_1: int, shift_1: int, multiplier_2: int,
          shift_2: int) -> np.ndarray:
    v = np.asarray(x, np.int64) - int(input_zero_point)
    a = np.asarray(alpha, np.int64) - int(alpha_zero_point)
    v, a = np.broadcast_arrays(v, a)
    positive = np.asarray(multiply_by_quantized_multiplier(v, multiplier_1, shift_1, DR_AWAY))
    negative = np.asarray(multiply_by_quantized_multiplier(wrap_int32(v * a), multiplier_2, shift_2, DR_AWAY))
    out = np.where(v >= 0, positive, negative) + int(output_zero_point)
    return np.clip(out, -128, 127).astype(np.int8)
