"""XNNPACK int8 ("qs8") arithmetic and which int8 ops the TFLite XNNPACK delegate takes.

Used by the BUILTIN / AUTO profiles of the wheels whose default delegate takes int8 ops
(TF 2.19, ai-edge-litert 2.1.0; docs/tflite-int8-arithmetic.md §3). Sources:
XNNPACK @ 77468446 (the LiteRT v2.1.0 pin) `src/operators/convolution-nhwc.c`
(init_requantization_scale_qx8_qc8w), `src/xnnpack/requantization.h` (xnn_qs8_quantize),
`src/microparams-init.c` (xnn_init_qs8_add_minmax_scalar_params, xnn_init_qs8_cvt_scalar_params,
xnn_init_f32_qs8_cvt_scalar_params), `src/qs8-vcvt/gen/qs8-vcvt-avx2-u32.c`,
`src/f32-qs8-vcvt/gen/f32-qs8-vcvt-avx2-u32.c`, `src/qs8-vadd/gen/qs8-vadd-minmax-avx2-mul32-ld64-u16.c`;
and LiteRT v2.1.0 `tflite/delegates/xnnpack/xnnpack_delegate.cc` (VisitNode and the Visit*Node
checks) for what is delegated. All float work is float32, as in the C sources.
"""
from __future__ import annotations

import numpy as np

from .fixed_point import wrap_int32

_F32 = np.float32


def f32(x) -> np.float32:
    return np.float32(x)


def requantization_scales(input_scale: float, filter_scales, output_scale: float) -> np.ndarray:
    """init_requantization_scale_qx8_qc8w: float32 (s_in * s_w[c]) / s_out per channel (a
    per-tensor filter scale gives one value, replicated by the caller's broadcasting)."""
    s_w = np.asarray(filter_scales, dtype=_F32)
    with np.errstate(over="ignore"):
        return (_F32(input_scale) * s_w) / _F32(output_scale)


def quantize_bound(value: float, scale: float, zero_point: int) -> int:
    """xnn_qs8_quantize: lrintf(fminf(fmaxf(value / scale + (float) zero_point, -128), 127))."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        v = _F32(value) / _F32(scale) + _F32(zero_point)
    v = min(max(float(v), -128.0), 127.0)
    return int(np.rint(v))


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """[lo, hi] of a fused activation (delegate ConvertActivationToOutputRange, then
    xnn_qs8_quantize of the float bounds): round half to even, unlike TFLite's round half away."""
    bounds = {0: (-np.inf, np.inf), 1: (0.0, np.inf), 2: (-1.0, 1.0), 3: (0.0, 6.0)}
    low, high = bounds.get(int(activation), (-np.inf, np.inf))
    return quantize_bound(low, scale, zero_point), quantize_bound(high, scale, zero_point)


def requantize_fp32(acc: np.ndarray, scale: np.ndarray, output_zero_point: int,
                    activation_min: int, activation_max: int) -> np.ndarray:
    """fp32 requantization of the qs8/qc8w GEMM, IGEMM and DWCONV microkernels (AVX2:
    cvtepi32_ps, mul_ps, min_ps(hi - z), cvtps_epi32, packs, adds z, max_epi8 lo):
    clamp(rne(float32(float32(acc) * scale)) + z_out, lo, hi)."""
    acc_f = np.asarray(wrap_int32(acc)).astype(_F32)
    with np.errstate(over="ignore"):
        scaled = acc_f * np.asarray(scale, dtype=_F32)
    scaled = np.minimum(scaled, _F32(activation_max - output_zero_point))
    scaled = np.maximum(scaled, _F32(-65536.0))   # below every int8 result; keeps rint finite
    out = np.rint(scaled).astype(np.int64) + int(output_zero_point)
    return np.clip(out, activation_min, activation_max).astype(np.int8)


def add_parameters(a_scale: float, a_zero_point: int, b_scale: float, b_zero_point: int,
                   output_scale: float) -> tuple[int, int, int, int]:
    """xnn_init_qs8_add_minmax_scalar_params -> (a_multiplier, b_multiplier, bias, shift)."""
    a_out = _F32(a_scale) / _F32(output_scale)
    b_out = _F32(b_scale) / _F32(output_scale)
    max_abs = max(abs(a_out), abs(b_out))
    exponent = int((np.asarray(max_abs, _F32).view(np.uint32) >> 23)) - 127
    shift = 20 - exponent
    a_mult = int(np.rint(abs(a_out) * _F32(2.0 ** shift)))   # exponent bits + shift: exact
    b_mult = int(np.rint(abs(b_out) * _F32(2.0 ** shift)))
    a_mult = -a_mult if np.signbit(a_out) else a_mult
    b_mult = -b_mult if np.signbit(b_out) else b_mult
    bias = (1 << (shift - 1)) - a_mult * int(a_zero_point) - b_mult * int(b_zero_point)
    return a_mult, b_mult, bias, shift


def add_scales_supported(a_scale: float, b_scale: float, output_scale: float) -> bool:
    """The delegate's CheckTensorsInputOutputScale for ADD: each s_in / s_out in [2^-10, 2^8)."""
    for s in (a_scale, b_scale):
        ratio = _F32(s) / _F32(output_scale)
        if not (_F32(1.0 / 1024.0) <= ratio < _F32(256.0)):
            return False
    return True


def convert_multiplier(input_scale: float, output_scale: float) -> int:
    """xnn_init_qs8_cvt_scalar_params: lrintf(256.0f * (s_in / s_out)), a Q8 multiplier."""
    ratio = _F32(input_scale) / _F32(output_scale)
    return int(np.rint(_F32(256.0) * ratio))


def convert_supported(input_scale: float, output_scale: float) -> bool:
    """The delegate's QUANTIZE int8 -> int8 check: s_in / s_out in [1/256, 128]."""
    ratio = _F32(input_scale) / _F32(output_scale)
    return bool(_F32(1.0 / 256.0) <= ratio <= _F32(128.0))


def mul_scale_supported(a_scale: float, b_scale: float, output_scale: float) -> bool:
    """The delegate's CheckTensorsInputProductOutputScale for MUL: float32 s_a * s_b / s_out in
    [2^-16, 2^8)."""
    with np.errstate(over="ignore"):
        scale = (_F32(a_scale) * _F32(b_scale)) / _F32(output_scale)
    return bool(_F32(1.0 / 65536.0) <= scale < _F32(256.0))


def requantize_rndnu(acc: np.ndarray, scale: float, output_zero_point: int, activation_min: int,
                     activation_max: int) -> np.ndarray:
    """"rndnu" requantization of the Arm qs8 vmul microkernels (qs8-vmul-minmax-rndnu-neon):
    the float32 scale as a 24-bit mantissa and a shift, round half up:
    clamp(((acc * mantissa + 2^(shift - 1)) >> shift) + z_out, lo, hi)."""
    bits = int(np.asarray(_F32(scale)).view(np.uint32))
    mantissa = (bits & 0x7FFFFF) | 0x800000
    shift = 127 + 23 - (bits >> 23)
    product = np.asarray(wrap_int32(acc), np.int64) * mantissa
    out = ((product + (1 << (shift - 1))) >> shift) + int(output_zero_point)
    return np.clip(out, activation_min, activation_max).astype(np.int8)


def leaky_relu_supported(alpha: float, input_scale: float, output_scale: float) -> bool:
    """The delegate's LEAKY_RELU checks (xnnpack_delegate.cc VisitUnaryNode): alpha normal and
    nonzero; positive scale f32(s_in / s_out) in [1/256, 128]; negative scale f32(positive *
    alpha) in [-127.99609375, 128] with magnitude >= 1/256."""
    alpha_f = _F32(alpha)
    if not np.isfinite(alpha_f) or alpha_f == 0 or abs(alpha_f) < np.finfo(np.float32).tiny:
        return False
    with np.errstate(over="ignore", under="ignore"):
        positive = _F32(input_scale) / _F32(output_scale)
        negative = positive * alpha_f
    return bool(_F32(1.0 / 256.0) <= positive <= _F32(128.0)
                and _F32(-127.99609375) <= negative <= _F32(128.0)
                and abs(negative) >= _F32(1.0 / 256.0))


def leaky_relu_multipliers(alpha: float, input_scale: float, output_scale: float) -> tuple[int, int]:
    """xnn_init_qs8_lrelu_scalar_params: (lrintf(256 * positive scale), lrintf(256 * negative
    scale)), Q8 multipliers of f32(s_in / s_out) and f32(f32(s_in / s_out) * alpha)."""
    positive = _F32(input_scale) / _F32(output_scale)
    negative = positive * _F32(alpha)
    return int(np.rint(_F32(256.0) * positive)), int(np.rint(_F32(256.0) * negative))
