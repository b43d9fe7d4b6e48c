"""FULLY_CONNECTED int8: reference_integer_ops::FullyConnected / FullyConnectedPerChannel
(reference/integer_ops/fully_connected.h), §2.4.

acc[b, o] = sum_k (w[o, k] + weights_offset) * (x[b, k] - z_in) + bias[o]   (int32, wraps)
Requantization, by build:
  MultiplyByQuantizedMultiplier(acc, M[o], shift[o]) (tflite-runtime 2.14, TF 2.19 reference), or
  int32(round_half_away(double(acc) * effective_scale[o])) with effective_scale =
  double(s_in) * double(s_w[o]) / double(s_out) (LiteRT >= 1.3 reference, "float64_rha").
then + z_out and clamp.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..fixed_point import float_to_int32_x86, round_half_away, wrap_int32
from .common import (exact_matmul, float_requantizer, input_bound, max_abs, requantize,
                     sum_dtype)


def fully_connected_accumulate(x2d: np.ndarray, weights: np.ndarray, bias: Optional[np.ndarray], *,
                               input_zero_point: int, weights_offset: int = 0) -> np.ndarray:
    """x2d [B, K] int8, weights [O, K] -> exact accumulators [B, O] (int64, not yet wrapped)."""
    w = np.asarray(weights, dtype=np.int64)
    if weights_offset:
        w = w + int(weights_offset)
    bound = w.shape[1] * max_abs(w) * input_bound(input_zero_point)
    if sum_dtype(bound) is np.int64:
        lhs = np.asarray(x2d).astype(np.int64) - np.int64(input_zero_point)
        acc = exact_matmul(lhs, w.T, bound)
    else:
        acc = _float_accumulators(x2d, w, input_zero_point, bound).astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, dtype=np.int64)
    return acc


def _float_accumulators(x2d: np.ndarray, w: np.ndarray, input_zero_point: int,
                        bound: float) -> np.ndarray:
    """sum_k w[o, k] * (x[b, k] - z_in) as float64, exact (float32 GEMM while bound < 2^24,
    float64 GEMM below 2^53: see kernels/common.py)."""
    dtype = sum_dtype(bound)
    lhs = np.subtract(x2d, dtype(input_zero_point), dtype=dtype)
    return np.asarray(lhs @ w.T.astype(dtype), dtype=np.float64)


def requantize_float64_rha(acc: np.ndarray, effective_scale: np.ndarray, output_zero_point: int,
                           activation_min: int, activation_max: int) -> np.ndarray:
    """LiteRT reference FC: clamp(int32(round(double(acc) * effective_scale)) + z_out, lo, hi)."""
    scaled = np.asarray(wrap_int32(acc), dtype=np.float64) * np.asarray(effective_scale, np.float64)
    out = wrap_int32(float_to_int32_x86(round_half_away(scaled)) + int(output_zero_point))
    return np.clip(out, activation_min, activation_max).astype(np.int8)


def fully_connected(x2d: np.ndarray, weights: np.ndarray, bias: Optional[np.ndarray], *,
                    input_zero_point: int, weights_offset: int, output_zero_point: int,
                    activation_min: int, activation_max: int, requant: str,
                    multiplier: Optional[np.ndarray] = None, shift: Optional[np.ndarray] = None,
                    effective_scale: Optional[np.ndarray] = None) -> np.ndarray:
    """int8 [B, K] x, [O, K] weights, optional int32 bias [O] -> int8 [B, O]."""
    if requant != "float64_rha":
        w = np.asarray(weights, dtype=np.int64)
        if weights_offset:
            w = w + int(weights_offset)
        bound = w.shape[1] * max_abs(w) * input_bound(input_zero_point)
        fast = float_requantizer(multiplier, shift, requant, output_zero_point, activation_min,
                                 activation_max, bound + (0.0 if bias is None else max_abs(bias)))
        if fast is not None and sum_dtype(bound) is not np.int64:
            acc = _float_accumulators(x2d, w, input_zero_point, bound)
            if bias is not None:
                acc += np.asarray(bias, dtype=np.int64)
            out = np.empty(acc.shape, dtype=np.int8)
            fast.apply_inplace(acc, out)
            return out
    acc = fully_connected_accumulate(x2d, weights, bias, input_zero_point=input_zero_point,
                                     weights_offset=weights_offset)
    if requant == "float64_rha":
        return requantize_float64_rha(acc, effective_scale, output_zero_point, activation_min,
                                      activation_max)
    return requantize(acc, multiplier, shift, output_zero_point, activation_min, activation_max,
                      requant)
