"""GATHER (gather.cc + reference Gather): raw values, indices int32/int64, §2.8."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..kernels.gather import gather
from ..profiles import Profile
from ..reader import Operator
from .common import check_arity, expect_dtype, input_tensor, normalize_axis, output_tensor


@dataclass(frozen=True)
class GatherParams:
    axis: int
    batch_dims: int


def prepare(op: Operator, tensors, profile: Profile) -> GatherParams:
    check_arity(op, (2,))
    params_t = input_tensor(op, tensors, 0, "params")
    indices = input_tensor(op, tensors, 1, "indices")
    out = output_tensor(op, tensors)
    expect_dtype(op, params_t, "params", ("int8", "int32", "int64", "float32"))
    expect_dtype(op, indices, "indices", ("int32", "int64"))
    if out.dtype != params_t.dtype:
        raise CatrtError(f"{op.label}: output type {out.dtype} differs from params type "
                         f"{params_t.dtype}")
    rank = len(params_t.shape)
    axis = normalize_axis(op, op.options["axis"], rank)
    batch_dims = op.options["batch_dims"]
    if batch_dims < 0:
        batch_dims += len(indices.shape)
    if not 0 <= batch_dims <= min(axis, len(indices.shape)):
        raise CatrtError(f"{op.label}: batch_dims {op.options['batch_dims']} is invalid for axis "
                         f"{axis} and indices rank {len(indices.shape)}")
    if indices.data is not None and indices.data.size and (
            indices.data.min() < 0 or indices.data.max() >= params_t.shape[axis]):
        raise CatrtError(f"{op.label}: constant indices outside [0, {params_t.shape[axis]})")
    return GatherParams(axis=axis, batch_dims=batch_dims)


def evaluate(params: GatherParams, inputs: list) -> np.ndarray:
    return gather(inputs[0], inputs[1], axis=params.axis, batch_dims=params.batch_dims)
