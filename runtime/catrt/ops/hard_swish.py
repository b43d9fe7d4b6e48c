"""HARD_SWISH int8 (activations.cc HardSwishPrepare + reference HardSwish eval), §2.10.

Prepare, in float32 as TFLite: hires = (1/128) * s_in, M_out = QuantizeMultiplier(hires / s_out)
(exponent must be <= 0, else Prepare fails), M_relu = QuantizeMultiplier(hires / (3 / 32768)),
both narrowed by DownScaleInt32ToInt16Multiplier (common.h): (M + 2^15) >> 16, or 32767 when
M >= 2^31 - 1 - 2^15.

Eval is a function of the int8 input value alone, so prepare evaluates the kernel once on all 256
int8 values and eval looks the outputs up (kernels.lookup: indexed by the code's bit pattern): the
same integers, without the int16 fixed-point steps per element (HARD_SWISH was 57-78 % of catrt's
time on MobileNetV3).

Every x86_64 resolver runs this reference arithmetic: the optimized kernel's vector loop
(optimized_ops.h HardSwish<T>) is compiled only under __ARM_NEON (not through NEON_2_SSE), so on
x86 it hands every element to reference_ops::HardSwish, and XNNPACK takes HARD_SWISH in float32
only (xnnpack_delegate.cc VisitUnaryNode: CheckTensorFloatType). Golden edge_hard_swish_scales:
builtin / nodelegate / auto equal ref on all three wheels. On aarch64 (profile.hard_swish_neon_block
8) the built-in kernel's NEON loop takes the leading multiple of 8 flat elements of each invoke
(kernels.hard_swish.hard_swish with neon=True: half-up rounding shifts, floor high-mul), the rest the reference loop; a
second table holds the vector loop's outputs. Measured under qemu: golden edge_hard_swish_scales,
the 2 elements where the aarch64 wheels differ from ref are reproduced.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import CatrtError
from ..fixed_point import quantize_multiplier
from ..kernels.hard_swish import hard_swish
from ..kernels.lookup import INT8_CODES, lookup
from ..profiles import Profile
from ..reader import Operator
from .common import unary_int8_qparams


@dataclass(frozen=True)
class HardSwishParams:
    input_zero_point: int
    output_zero_point: int
    output_multiplier: int
    output_exponent: int
    reluish_multiplier: int
    reluish_exponent: int
    table: np.ndarray | None = None   # int8 [256]: the output of every int8 input x, at x & 0xFF
    neon_table: np.ndarray | None = None  # the same for the NEON vector loop (aarch64), else None
    neon_block: int = 0


def downscale_multiplier_to_int16(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier (kernels/internal/common.h)."""
    if multiplier < 0:
        raise CatrtError(f"negative multiplier {multiplier}")
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


def prepare(op: Operator, tensors, profile: Profile) -> HardSwishParams:
    (s_in, z_in), (s_out, z_out) = unary_int8_qparams(op, tensors)
    hires = np.float32(np.float32(1.0 / 128.0) * np.float32(s_in))
    with np.errstate(over="ignore", divide="ignore"):
        output_real = np.float32(hires / np.float32(s_out))
        reluish_real = np.float32(hires / np.float32(np.float32(3.0) / np.float32(32768.0)))
    output_m, output_e = quantize_multiplier(float(output_real))
    if output_e > 0:
        raise CatrtError(f"{op.label}: input scale {s_in} / (128 * output scale {s_out}) is >= 1; "
                         "TFLite's HardSwishPrepare requires an output multiplier exponent <= 0")
    reluish_m, reluish_e = quantize_multiplier(float(reluish_real))
    params = HardSwishParams(input_zero_point=z_in, output_zero_point=z_out,
                             output_multiplier=downscale_multiplier_to_int16(output_m),
                             output_exponent=output_e,
                             reluish_multiplier=downscale_multiplier_to_int16(reluish_m),
                             reluish_exponent=reluish_e)
    neon = profile.hard_swish_neon_block
    return replace(params, table=_kernel(params, INT8_CODES),
                   neon_table=_kernel(params, INT8_CODES, neon=True) if neon else None, neon_block=neon)


def evaluate(params: HardSwishParams, inputs: list) -> np.ndarray:
    x = np.asarray(inputs[0])
    if params.table is not None and x.dtype == np.int8:
        out = lookup(params.table, x)
    else:
        out = _kernel(params, x)
    if params.neon_table is not None:
        vector = x.size // params.neon_block * params.neon_block
        flat = out.reshape(-1)
        flat[:vector] = lookup(params.neon_table, x.reshape(-1)[:vector])
        out = flat.reshape(out.shape)
    return out


def _kernel(params: HardSwishParams, x: np.ndarray, neon: bool = False) -> np.ndarray:
    return hard_swish(x, neon=neon, input_zero_point=params.input_zero_point,
                      output_zero_point=params.output_zero_point,
                      output_multiplier=params.output_multiplier,
                      output_exponent=params.output_exponent,
                      reluish_multiplier=params.reluish_multiplier,
                      reluish_exponent=params.reluish_exponent)
