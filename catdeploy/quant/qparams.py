"""Quantization parameters of activations and weights, and how b-bit grids sit in int8 containers.

Activations: per-tensor asymmetric b-bit grid, codes q in [0, 2^b - 1], real = scale * (q - zero_point).
In the int8 container the codes are shifted by `container_offset(b) = 128 - 2^b`, i.e. the grid is
placed at the top of int8 ([128 - 2^b, 127]) so that int8 saturation gives the upper clip; the
TFLite zero point is `zero_point + container_offset(b)`.

Weights: per-output-channel. Asymmetric (default for b < 8): codes q in [0, 2^b - 1] with an integer
zero point z per channel, stored exactly as q - z in int8 with TFLite zero point 0. Symmetric (always
for 8 bit, optional below): codes in [-(2^(b-1) - 1), 2^(b-1) - 1], zero point 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BIT_SETTINGS: dict[str, tuple[int, int]] = {
    "w8a8": (8, 8),
    "w4a4": (4, 4),
    "w2a4": (2, 4),
    "w4a2": (4, 2),
    "w2a2": (2, 2),
}


MIN_ACT_RANGE = 1e-5


def container_offset(bits: int) -> int:
    """Shift from grid code q to the stored int8 value: stored = q + offset."""
    return 128 - (1 << bits)


@dataclass(frozen=True)
class ActQParams:
    """Per-tensor asymmetric b-bit activation grid. `scale` is exactly representable in float32."""

    bits: int
    scale: float
    zero_point: int  # grid code of real 0, in [0, 2^bits - 1]

    @property
    def tflite_zero_point(self) -> int:
        return self.zero_point + container_offset(self.bits)

    def to_dict(self) -> dict:
        return {"bits": self.bits, "scale": float(self.scale), "zero_point": int(self.zero_point)}

    @staticmethod
    def from_dict(d: dict) -> "ActQParams":
        return ActQParams(int(d["bits"]), float(np.float32(d["scale"])), int(d["zero_point"]))


def act_qparams_from_range(lo: float, hi: float, bits: int) -> ActQParams:
    """Asymmetric grid covering [min(lo, 0), max(hi, 0)] (real 0 exactly representable)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    levels = (1 << bits) - 1
    if hi - lo < MIN_ACT_RANGE:
        # A (nearly) constant tensor: keep the grid wide enough that TFLite's activation clamps
        # (e.g. RELU6's round(6 / scale)) stay far inside int32.
        hi = lo + MIN_ACT_RANGE
    scale = float(np.float32((hi - lo) / levels))
    zero_point = int(np.clip(np.round(-lo / scale), 0, levels))
    return ActQParams(bits, scale, zero_point)


def fake_quant_act(x: np.ndarray, qp: ActQParams) -> np.ndarray:
    """Float simulation of the activation grid (round half to even, like torch.round)."""
    s = np.float32(qp.scale)
    q = np.clip(np.rint(x / s) + qp.zero_point, 0, (1 << qp.bits) - 1)
    return ((q - qp.zero_point) * s).astype(np.float32)


def weight_code_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """Range of the codes (q, before subtracting the zero point) of a b-bit weight grid."""
    if symmetric:
        m = (1 << (bits - 1)) - 1
        return -m, m
    return 0, (1 << bits) - 1


@dataclass(frozen=True)
class WeightQParams:
    """Per-output-channel weight grid. scale float32 [OC]; zero_point int [OC] (0 if symmetric)."""

    bits: int
    symmetric: bool
    scale: np.ndarray
    zero_point: np.ndarray


def weight_qparams_from_range(lo: np.ndarray, hi: np.ndarray, bits: int, symmetric: bool) -> WeightQParams:
    """Per-channel grid from per-channel clipping ranges lo <= 0 <= hi."""
    lo = np.minimum(lo.astype(np.float64), 0.0)
    hi = np.maximum(hi.astype(np.float64), 0.0)
    qmin, qmax = weight_code_range(bits, symmetric)
    if symmetric:
        amax = np.maximum(np.abs(lo), np.abs(hi))
        scale = (amax / qmax).astype(np.float32)
        scale = np.where(scale > 0, scale, np.float32(1e-8)).astype(np.float32)
        zero_point = np.zeros(lo.shape, np.int64)
    else:
        scale = ((hi - lo) / (qmax - qmin)).astype(np.float32)
        scale = np.where(scale > 0, scale, np.float32(1e-8)).astype(np.float32)
        zero_point = np.clip(np.round(-lo / scale), qmin, qmax).astype(np.int64)
    return WeightQParams(bits, symmetric, scale, zero_point)


def quantize_weight_rtn(w: np.ndarray, qp: WeightQParams) -> np.ndarray:
    """Round-to-nearest weight codes stored as q - z (int8), channel axis 0."""
    shape = (-1,) + (1,) * (w.ndim - 1)
    s = qp.scale.reshape(shape).astype(np.float32)
    z = qp.zero_point.reshape(shape)
    qmin, qmax = weight_code_range(qp.bits, qp.symmetric)
    q = np.clip(np.rint(w.astype(np.float32) / s) + z, qmin, qmax)
    return (q - z).astype(np.int8)
