"""Checks and helpers shared by the ops' prepare functions (TFLite Prepare-time failures)."""
from __future__ import annotations

import math
from typing import Optional, Sequence

from ..errors import CatrtError
from ..fixed_point import ACTIVATION_NAMES, activation_range_quantized
from ..reader import Operator, Tensor


def tensor_label(tensor: Tensor) -> str:
    return repr(tensor.name) if tensor.name else f"#{tensor.index}"


def check_arity(op: Operator, inputs: Sequence[int], outputs: Sequence[int] = (1,)) -> None:
    """The op must have one of the allowed numbers of inputs and outputs."""
    if len(op.inputs) not in inputs:
        raise CatrtError(f"{op.label}: has {len(op.inputs)} inputs, expected "
                         f"{' or '.join(str(n) for n in inputs)}")
    if len(op.outputs) not in outputs:
        raise CatrtError(f"{op.label}: has {len(op.outputs)} outputs, expected "
                         f"{' or '.join(str(n) for n in outputs)}")


def input_tensor(op: Operator, tensors: Sequence[Tensor], position: int, role: str,
                 optional: bool = False) -> Optional[Tensor]:
    """The tensor at input `position`; None for an omitted optional input (index -1)."""
    if position >= len(op.inputs) or op.inputs[position] < 0:
        if optional:
            return None
        raise CatrtError(f"{op.label}: the {role} input is missing")
    return tensors[op.inputs[position]]


def output_tensor(op: Operator, tensors: Sequence[Tensor], position: int = 0) -> Tensor:
    return tensors[op.outputs[position]]


def expect_dtype(op: Operator, tensor: Tensor, role: str, allowed: Sequence[str]) -> None:
    if tensor.dtype not in allowed:
        raise CatrtError(f"{op.label}: {role} tensor {tensor_label(tensor)} has type "
                         f"{tensor.dtype}, expected {' or '.join(allowed)}")


def expect_rank(op: Operator, tensor: Tensor, role: str, rank: int) -> None:
    if len(tensor.shape) != rank:
        raise CatrtError(f"{op.label}: {role} tensor {tensor_label(tensor)} has rank "
                         f"{len(tensor.shape)} (shape {tensor.shape}), expected {rank}")


def _check_scale(op: Operator, tensor: Tensor, role: str, scale: float) -> None:
    if not (math.isfinite(scale) and scale > 0):
        raise CatrtError(f"{op.label}: {role} tensor {tensor_label(tensor)} has scale {scale}; "
                         "must be positive and finite")


def per_tensor_qparams(op: Operator, tensor: Tensor, role: str) -> tuple[float, int]:
    """(scale, zero_point) of an activation tensor: TFLite's legacy per-tensor params."""
    q = tensor.quantization
    if q is None:
        raise CatrtError(f"{op.label}: {role} tensor {tensor_label(tensor)} has no quantization")
    if q.per_channel:
        raise CatrtError(f"{op.label}: {role} tensor {tensor_label(tensor)} must be per-tensor "
                         f"quantized, has {len(q.scale)} scales")
    _check_scale(op, tensor, role, q.scale[0])
    return q.scale[0], q.zero_point[0]


def filter_scales(op: Operator, tensor: Tensor, role: str = "filter") -> tuple:
    """All scales of a (per-tensor or per-channel) weight tensor, checked positive and finite."""
    q = tensor.quantization
    if q is None:
        raise CatrtError(f"{op.label}: {role} tensor {tensor_label(tensor)} has no quantization")
    for s in q.scale:
        _check_scale(op, tensor, role, s)
    return q.scale


def activation_range(op: Operator, output: Tensor, activation: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an int8 output."""
    if activation not in ACTIVATION_NAMES:
        raise CatrtError(f"{op.label}: unknown fused activation code {activation}")
    if activation in (1, 2, 3):
        scale, zero_point = per_tensor_qparams(op, output, "output")
    else:
        scale, zero_point = 1.0, 0
    try:
        return activation_range_quantized(activation, scale, zero_point)
    except CatrtError as exc:
        raise CatrtError(f"{op.label}: {exc}") from None


def normalize_axis(op: Operator, axis: int, rank: int, what: str = "axis") -> int:
    value = axis + rank if axis < 0 else axis
    if not 0 <= value < rank:
        raise CatrtError(f"{op.label}: {what} {axis} is outside rank {rank}")
    return value


def num_elements(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def check_int4_filter(op: Operator, tensor: Tensor, profile) -> None:
    """Refuse INT4 filters where the profile's Prepare refuses them."""
    if tensor.dtype == "int4" and op.kind not in profile.int4_filter_ops:
        raise CatrtError(f"{op.label}: {profile.name} does not accept INT4 filters for {op.kind}")


def binary_int8_qparams(op, tensors):
    """((s1, z1), (s2, z2), (s_out, z_out), output tensor) of a two-input int8 arithmetic op
    (ADD, MUL), after the arity, dtype and per-tensor quantization checks both Prepares make."""
    check_arity(op, (2,))
    a = input_tensor(op, tensors, 0, "first")
    b = input_tensor(op, tensors, 1, "second")
    out = output_tensor(op, tensors)
    for t, role in ((a, "first input"), (b, "second input"), (out, "output")):
        expect_dtype(op, t, role, ("int8",))
    return (per_tensor_qparams(op, a, "first input"), per_tensor_qparams(op, b, "second input"),
            per_tensor_qparams(op, out, "output"), out)


def unary_int8_qparams(op: Operator, tensors: Sequence[Tensor]) -> tuple[tuple[float, int], tuple[float, int]]:
    """((input scale, zero point), (output scale, zero point)) of a one-input int8 op whose output
    has the input's shape (LOGISTIC, HARD_SWISH, LEAKY_RELU), the tensors checked first."""
    check_arity(op, (1,))
    x = input_tensor(op, tensors, 0, "input")
    out = output_tensor(op, tensors)
    expect_dtype(op, x, "input", ("int8",))
    expect_dtype(op, out, "output", ("int8",))
    if tuple(x.shape) != tuple(out.shape):
        raise CatrtError(f"{op.label}: output shape {out.shape} differs from input shape {x.shape}")
    return per_tensor_qparams(op, x, "input"), per_tensor_qparams(op, out, "output")
