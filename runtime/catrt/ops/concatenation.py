"""CONCATENATION (concatenation.cc Prepare + reference Concatenation); int8 inputs must share
the output's scale and zero point exactly (no requantizing int8 concat), §2.8."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..kernels.concatenation import concatenation
from ..profiles import Profile
from ..reader import Operator
from .common import input_tensor, normalize_axis, output_tensor, per_tensor_qparams, tensor_label


@dataclass(frozen=True)
class ConcatenationParams:
    axis: int


def prepare(op: Operator, tensors, profile: Profile) -> ConcatenationParams:
    if not op.inputs or len(op.outputs) != 1:
        raise CatrtError(f"{op.label}: needs at least one input and exactly one output")
    first = input_tensor(op, tensors, 0, "first")
    out = output_tensor(op, tensors)
    rank = len(first.shape)
    if rank == 0:
        raise CatrtError(f"{op.label}: scalar inputs are not supported")
    axis = normalize_axis(op, op.options["axis"], rank)
    if op.options["fused_activation_function"] != 0:
        raise CatrtError(f"{op.label}: fused activation must be NONE (TFLite Prepare)")
    if first.dtype not in ("int8", "int32", "float32", "int64"):
        raise CatrtError(f"{op.label}: input type {first.dtype} is not supported")
    for i in range(len(op.inputs)):
        t = input_tensor(op, tensors, i, f"input {i}")
        if t.dtype != first.dtype or len(t.shape) != rank:
            raise CatrtError(f"{op.label}: input {tensor_label(t)} type/rank differs from the "
                             "first input")
        for d in range(rank):
            if d != axis and t.shape[d] != first.shape[d]:
                raise CatrtError(f"{op.label}: input {tensor_label(t)} shape {t.shape} does not "
                                 f"match {first.shape} outside axis {axis}")
    if out.dtype != first.dtype:
        raise CatrtError(f"{op.label}: output type {out.dtype} differs from input type "
                         f"{first.dtype}")
    if first.dtype == "int8":
        s_out, z_out = per_tensor_qparams(op, out, "output")
        for i in range(len(op.inputs)):
            t = input_tensor(op, tensors, i, f"input {i}")
            s, z = per_tensor_qparams(op, t, f"input {i}")
            if np.float32(s) != np.float32(s_out) or z != z_out:
                raise CatrtError(f"{op.label}: input {tensor_label(t)} qparams ({s}, {z}) differ "
                                 f"from the output's ({s_out}, {z_out}); int8 CONCATENATION "
                                 "cannot rescale")
    return ConcatenationParams(axis=axis)


def evaluate(params: ConcatenationParams, inputs: list) -> np.ndarray:
    return concatenation(inputs, params.axis)
