"""Per-channel requantization of the optimized DEPTHWISE_CONV_2D output stage.

optimized_ops::Quantize(multiplier, shift, channels, ...) (optimized_ops.h, double-rounding
build), called by optimized_integer_ops::depthwise_conv::DepthwiseConvGeneral: under USE_NEON the
channels [0, 8 * floor(C / 8)) go through vshlq / vqrdmulhq / vrshlq ("dr_up": the final shift
rounds ties toward +inf); the leftover channels use the scalar MultiplyByQuantizedMultiplier
("dr_away"). Without USE_NEON every channel is scalar.
"""
from __future__ import annotations

import numpy as np

from ..fixed_point import DR_UP
from .common import requantize


def requantize_channel_split(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                             output_zero_point: int, activation_min: int, activation_max: int,
                             scalar_rounding: str, block: int) -> np.ndarray:
    channels = acc.shape[-1]
    vector = (channels // block) * block if block else 0
    out = requantize(acc, multiplier, shift, output_zero_point, activation_min, activation_max,
                     scalar_rounding)
    if vector:
        out[..., :vector] = requantize(acc[..., :vector], multiplier[:vector], shift[:vector],
                                       output_zero_point, activation_min, activation_max, DR_UP)
    return out
