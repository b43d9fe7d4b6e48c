"""LOGISTIC int8: a 256-entry lookup table (activations.cc SigmoidPrepare -> LUTPopulate<int8_t>,
common.h detail::LUTPopulateInt8; SigmoidEval -> LookupTable), §2.10. The reference and the
generic optimized kernels both use it.

Table, in float32 as the C code computes it (float * int, float std::exp = expf):
  v        = f32(s_in * f32(q - z_in))
  sigma    = f32(1 / f32(1 + expf(-v)))
  lut[q]   = clamp(int32(round_half_away(f32(sigma * f32(1 / s_out))) + z_out), -128, 127)
Eval: y = lut[x]. catrt orders both tables by the code's bit pattern (lut[x & 0xFF], see
kernels.lookup), so eval indexes them with a uint8 view of x.

XNNPACK (TF 2.19 / LiteRT 2.1.0 delegates, XNNPACK @ 77468446) has no qs8 sigmoid kernel: it
fills a 256-byte table with its reference unary kernel (src/operators/unary-elementwise-nc.c
init_lut_op_with_config; src/reference/unary-elementwise.cc unary_ukernel_quantized + SigmoidOp;
src/xnnpack/reference-utils.h dequantize / quantize / round_float_to_int), see
logistic_table_xnnpack.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import numpy as np

from ..fixed_point import round_half_away
from .lookup import INT8_CODES, lookup


def _libm_expf():
    """The C library's expf (what TFLite's std::exp(float) calls), or None when not loadable."""
    try:
        name = ctypes.util.find_library("m")
        if name is None:
            return None
        expf = ctypes.CDLL(name).expf
    except (OSError, AttributeError):
        return None
    expf.restype = ctypes.c_float
    expf.argtypes = [ctypes.c_float]
    return expf


_EXPF = _libm_expf()


def expf(v: np.ndarray) -> np.ndarray:
    """float32 exp of float32 values: libm's expf when available, else exp in double rounded to
    float32 (the correctly rounded value; glibc's expf agreed with it on 3 million table entries)."""
    v = np.asarray(v, dtype=np.float32)
    if _EXPF is not None:
        return np.array([_EXPF(float(e)) for e in v.ravel()], dtype=np.float32).reshape(v.shape)
    with np.errstate(over="ignore"):
        return np.exp(v.astype(np.float64)).astype(np.float32)


def logistic_table(input_scale: float, input_zero_point: int, output_scale: float,
                   output_zero_point: int) -> np.ndarray:
    """The int8 LOGISTIC table indexed by x & 0xFF."""
    codes = INT8_CODES.astype(np.int64)
    inverse = np.float32(np.float32(1.0) / np.float32(output_scale))
    with np.errstate(over="ignore"):
        v = np.float32(input_scale) * (codes - int(input_zero_point)).astype(np.float32)
        sigma = np.float32(1.0) / (np.float32(1.0) + expf(-v))
        rescaled = round_half_away(sigma * inverse)
    quantized = rescaled + float(np.float32(output_zero_point))
    return np.clip(quantized, -128, 127).astype(np.int8)


def logistic_table_xnnpack(input_scale: float, input_zero_point: int, output_scale: float,
                           output_zero_point: int) -> np.ndarray:
    """XNNPACK's int8 sigmoid table indexed by x & 0xFF, all in float32 except the exponential:
      v      = f32(f32(q - z_in) * s_in)
      sigma  = 1 if v > 100, 0 if v < -100, else f32(e / (1 + e)) with e = exp(double(v))
      lut[q] = clamp(round_half_away(f32(f32(sigma * f32(1 / s_out)) + z_out)), -128, 127)
    (no fused multiply-add on x86_64)."""
    codes = INT8_CODES.astype(np.float32)
    inverse = np.float32(np.float32(1.0) / np.float32(output_scale))
    v = (codes - np.float32(input_zero_point)) * np.float32(input_scale)
    with np.errstate(over="ignore"):
        e = np.exp(v.astype(np.float64))
        sigma = (e / (1.0 + e)).astype(np.float32)
    sigma = np.where(v > 100, np.float32(1), np.where(v < -100, np.float32(0), sigma)).astype(np.float32)
    shifted = (sigma * inverse).astype(np.float32) + np.float32(output_zero_point)
    return np.clip(round_half_away(shifted.astype(np.float32)), -128, 127).astype(np.int8)


def logistic(x: np.ndarray, *, table: np.ndarray) -> np.ndarray:
    """lut[x] (LookupTable, common.h) with a table from logistic_table or logistic_table_xnnpack."""
    return lookup(table, x)
