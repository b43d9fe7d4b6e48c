"""CAST (cast.cc Prepare + Eval): one input, one output of the same shape, raw values converted."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..kernels.cast import cast
from ..profiles import Profile
from ..reader import Operator
from .common import check_arity, input_tensor, output_tensor, tensor_label

# (input dtype, output dtype) pairs catrt runs: exact widenings. TFLite casts between many more
# types (float <-> int with truncation, bool, complex); catrt refuses those.
WIDENINGS = frozenset({("int8", "int16"), ("int16", "int32")})


@dataclass(frozen=True)
class CastParams:
    out_dtype: str


def prepare(op: Operator, tensors, profile: Profile) -> CastParams:
    check_arity(op, (1,))
    x = input_tensor(op, tensors, 0, "input")
    out = output_tensor(op, tensors)
    if (x.dtype, out.dtype) not in WIDENINGS:
        raise CatrtError(f"{op.label}: CAST {x.dtype} -> {out.dtype} is not supported by catrt "
                         f"(only {', '.join(f'{a} -> {b}' for a, b in sorted(WIDENINGS))})")
    if tuple(x.shape) != tuple(out.shape):
        raise CatrtError(f"{op.label}: output {tensor_label(out)} has shape {out.shape}, the input "
                         f"{x.shape} (CAST keeps the shape)")
    return CastParams(out_dtype=out.dtype)


def evaluate(params: CastParams, inputs: list) -> np.ndarray:
    return cast(inputs[0], np.dtype(params.out_dtype))
