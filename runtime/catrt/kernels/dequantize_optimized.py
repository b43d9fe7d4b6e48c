"""DEQUANTIZE int8 -> float32 under USE_NEON: optimized_ops::Dequantize (optimized_ops.h,
ScaleWithNewZeroPoint without FMA, the x86 NEON_2_SSE build): the leading 8 * floor(n / 8) flat
elements float32(float32(q) * float32(s)) + float32(-z * double(s)), the rest as the reference
float32(double(s) * (q - z)) (kernels/dequantize.py). The XNNPACK path (xnn_qs8_f32_vcvt:
float32(q - z) * float32(s)) equals the reference and uses kernels/dequantize.py.
With fused=True (aarch64, __ARM_FEATURE_FMA: vfmaq_f32) the vector elements are one rounding of
q * s + float32(-z * s), computed exactly in float64 (|q * s| has at most 32 significant bits)
and rounded once to float32.
"""
from __future__ import annotations

import numpy as np

from .dequantize import dequantize


def dequantize_neon(x: np.ndarray, *, scale: float, zero_point: int, fused: bool = False) -> np.ndarray:
    out = dequantize(x, scale=(scale,), zero_point=(zero_point,))
    vector = (out.size // 8) * 8
    if vector:
        s = np.float32(scale)
        offset = np.float32(-int(zero_point) * float(np.float32(scale)))
        flat = np.asarray(x).reshape(-1)[:vector].astype(np.float32)
        result = out.reshape(-1).copy()
        if fused:
            exact = flat.astype(np.float64) * float(s) + float(offset)   # exact: no double rounding
            result[:vector] = exact.astype(np.float32)
        else:
            result[:vector] = (flat * s) + offset
        out = result.reshape(out.shape)
    return out
