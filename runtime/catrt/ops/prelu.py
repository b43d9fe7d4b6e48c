"""PRELU int8 (activations.cc PreluPrepare + PreluEval), kernels/prelu.py.

Prepare, as TFLite: (M_1, e_1) = QuantizeMultiplier(f32(s_in / s_out)), (M_2, e_2) =
QuantizeMultiplier(f32(f32(s_in * s_alpha) / s_out)); alpha of the input's type, broadcast onto
the input (the output shape must stay the input's), ranks up to 4. Every resolver runs this
reference kernel for int8 (XNNPACK takes float32 PRELU only; measured: golden edge_prelu_*),
on aarch64 too (measured under qemu: tests/golden/arm64/edge_prelu_channels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..fixed_point import quantize_multiplier
from ..kernels.prelu import prelu
from ..profiles import Profile
from ..reader import Operator
from .common import check_arity, expect_dtype, input_tensor, output_tensor, per_tensor_qparams

MAX_RANK = 4


@dataclass(frozen=True)
class PreluParams:
    input_zero_point: int
    alpha_zero_point: int
    output_zero_point: int
    multiplier_1: int
    shift_1: int
    multiplier_2: int
    shift_2: int


def prepare(op: Operator, tensors, profile: Profile) -> PreluParams:
    check_arity(op, (2,))
    x = input_tensor(op, tensors, 0, "input")
    alpha = input_tensor(op, tensors, 1, "alpha")
    out = output_tensor(op, tensors)
    for tensor, role in ((x, "input"), (alpha, "alpha"), (out, "output")):
        expect_dtype(op, tensor, role, ("int8",))
    if max(len(x.shape), len(alpha.shape)) > MAX_RANK:
        raise CatrtError(f"{op.label}: ranks above {MAX_RANK} (BroadcastPrelu4DSlow)")
    try:
        shape = np.broadcast_shapes(tuple(x.shape), tuple(alpha.shape))
    except ValueError:
        raise CatrtError(f"{op.label}: alpha {alpha.shape} does not broadcast to the input {x.shape}") from None
    if tuple(shape) != tuple(x.shape) or tuple(out.shape) != tuple(x.shape):
        raise CatrtError(f"{op.label}: input {x.shape}, alpha {alpha.shape} and output {out.shape} "
                         "must keep the input's shape (PreluPrepare)")
    s_in, z_in = per_tensor_qparams(op, x, "input")
    s_alpha, z_alpha = per_tensor_qparams(op, alpha, "alpha")
    s_out, z_out = per_tensor_qparams(op, out, "output")
    with np.errstate(over="ignore"):
        real_1 = np.float32(s_in) / np.float32(s_out)
        real_2 = np.float32(np.float32(s_in) * np.float32(s_alpha)) / np.float32(s_out)
    try:
        m1, e1 = quantize_multiplier(float(real_1))
        m2, e2 = quantize_multiplier(float(real_2))
    except CatrtError as exc:
        raise CatrtError(f"{op.label}: scales {s_in}, {s_alpha} -> {s_out}: {exc}") from None
    return PreluParams(input_zero_point=z_in, alpha_zero_point=z_alpha, output_zero_point=z_out,
                       multiplier_1=m1, shift_1=e1, multiplier_2=m2, shift_2=e2)


def evaluate(params: PreluParams, inputs: list) -> np.ndarray:
    return prelu(inputs[0], inputs[1], input_zero_point=params.input_zero_point,
                 alpha_zero_point=params.alpha_zero_point, output_zero_point=params.output_zero_point,
                 multiplier_1=params.multiplier_1, shift_1=params.shift_1,
                 multiplier_2=params.multiplier_2, shift_2=params.shift_2)
