"""LEAKY_RELU int8 (activations.cc LeakyReluPrepare + LeakyReluEval), kernels/leaky_relu.py.

Prepare, as TFLite: (M_alpha, e_alpha) = QuantizeMultiplier(f32(f32(s_in * alpha) / s_out)) and
(M_identity, e_identity) = QuantizeMultiplier(f32(s_in / s_out)) (float operands, the double only
receives the float32 result). The built-in kernels of every resolver are the reference kernel
for int8 (measured: golden cases edge_leaky_relu_*); under a profile with XNNPACK the node takes
XNNPACK's qs8 arithmetic when the delegate's checks accept its alpha and scales
(xnnpack.leaky_relu_supported), the built-in kernel otherwise. The same on aarch64 (measured under
qemu: tests/golden/arm64/edge_leaky_relu_*, the 167 elements where LiteRT's XNNPACK differs from
ref reproduced).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import xnnpack
from ..errors import CatrtError
from ..fixed_point import quantize_multiplier
from ..kernels.leaky_relu import leaky_relu, leaky_relu_xnnpack
from ..profiles import Profile
from ..reader import Operator
from .common import check_arity, unary_int8_qparams


@dataclass(frozen=True)
class LeakyReluParams:
    input_zero_point: int
    output_zero_point: int
    identity_multiplier: int
    identity_shift: int
    alpha_multiplier: int
    alpha_shift: int
    algorithm: str = "ref"              # "ref" or "xnnpack"
    xnnpack_multipliers: tuple = ()     # (positive, negative) Q8 multipliers


def prepare(op: Operator, tensors, profile: Profile) -> LeakyReluParams:
    check_arity(op, (1,))
    (s_in, z_in), (s_out, z_out) = unary_int8_qparams(op, tensors)
    alpha = op.options["alpha"]
    if not np.isfinite(alpha):
        raise CatrtError(f"{op.label}: alpha {alpha} is not finite")
    with np.errstate(over="ignore"):
        alpha_real = np.float32(np.float32(s_in) * np.float32(alpha)) / np.float32(s_out)
        identity_real = np.float32(s_in) / np.float32(s_out)
    try:
        alpha_m, alpha_e = quantize_multiplier(float(alpha_real))
        identity_m, identity_e = quantize_multiplier(float(identity_real))
    except CatrtError as exc:
        raise CatrtError(f"{op.label}: scales {s_in} -> {s_out}, alpha {alpha}: {exc}") from None
    algorithm, multipliers = "ref", ()
    if profile.xnnpack and xnnpack.leaky_relu_supported(alpha, s_in, s_out):
        algorithm, multipliers = "xnnpack", xnnpack.leaky_relu_multipliers(alpha, s_in, s_out)
    return LeakyReluParams(input_zero_point=z_in, output_zero_point=z_out, identity_multiplier=identity_m,
                           identity_shift=identity_e, alpha_multiplier=alpha_m, alpha_shift=alpha_e,
                           algorithm=algorithm, xnnpack_multipliers=multipliers)


def evaluate(params: LeakyReluParams, inputs: list) -> np.ndarray:
    if params.algorithm == "xnnpack":
        positive, negative = params.xnnpack_multipliers
        return leaky_relu_xnnpack(inputs[0], input_zero_point=params.input_zero_point,
                                  output_zero_point=params.output_zero_point,
                                  positive_multiplier=positive, negative_multiplier=negative)
    return leaky_relu(inputs[0], input_zero_point=params.input_zero_point,
                      output_zero_point=params.output_zero_point,
                      identity_multiplier=params.identity_multiplier, identity_shift=params.identity_shift,
                      alpha_multiplier=params.alpha_multiplier, alpha_shift=params.alpha_shift)
