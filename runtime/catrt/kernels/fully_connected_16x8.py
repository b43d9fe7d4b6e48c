"""FULLY_CONNECTED 16x8: reference_integer_ops::FullyConnectedPerChannel<int16_t, int8_t, int16_t,
int64_t> (reference/integer_ops/fully_connected.h), which every resolver runs for an int16 input
with an int64 bias (fully_connected.cc EvalQuantized, FullyConnectedPerChannelInt16).

acc[b, o] = sum_k w[o, k] * x[b, k] + bias[o]          (int64; input and output zero points are 0)
Requantization, by build:
  "int64_mbqm":  MultiplyByQuantizedMultiplier(int64 acc, M[o], shift[o]), the 15-bit multiplier
                 overload (tflite-runtime 2.14, TF 2.19);
  "float64_rha": int32(round_half_away(double(acc) * double(s_in) * double(s_w[o]) / double(s_out)))
                 (LiteRT >= 1.3);
then clamp to [activation_min, activation_max] (the int16 range for no activation).
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import (float_to_int32_x86, multiply_by_quantized_multiplier_int64,
                           round_half_away)
from .common import exact_matmul, max_abs


def fully_connected_16x8_accumulate(x2d: np.ndarray, weights: np.ndarray,
                                    bias: np.ndarray) -> np.ndarray:
    """x2d [B, K] int16, weights [O, K] int8, bias [O] int64 -> exact accumulators [B, O] int64."""
    w = np.asarray(weights, dtype=np.int64)
    bound = w.shape[1] * max_abs(w) * 32768.0
    dtype = np.float64 if bound < 2.0 ** 53 else np.int64
    acc = exact_matmul(np.asarray(x2d).astype(dtype), w.T.astype(dtype), bound)
    return acc + np.asarray(bias, dtype=np.int64)


def fully_connected_16x8(x2d: np.ndarray, weights: np.ndarray, bias: np.ndarray, *, requant: str,
                         multiplier: np.ndarray, shift: np.ndarray, effective_scale: np.ndarray,
                         activation_min: int, activation_max: int) -> np.ndarray:
    """int16 [B, K] x, int8 [O, K] per-channel weights, int64 bias [O] -> int16 [B, O]."""
    acc = fully_connected_16x8_accumulate(x2d, weights, bias)
    if requant == "float64_rha":
        scaled = float_to_int32_x86(round_half_away(acc.astype(np.float64) * effective_scale))
    else:
        scaled = multiply_by_quantized_multiplier_int64(acc, multiplier, shift)
    return np.clip(scaled, activation_min, activation_max).astype(np.int16)
