"""PAD (pad.cc + reference Pad): int8 pads with the output zero point, float32/int32 with 0."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..kernels.pad import pad
from ..profiles import Profile
from ..reader import Operator
from .common import (check_arity, expect_dtype, input_tensor, output_tensor, per_tensor_qparams,
                     tensor_label)

MAX_PAD_RANK = 5


@dataclass(frozen=True)
class PadParams:
    pad_value: int


def _check_padded_shape(op: Operator, x, paddings: np.ndarray, out) -> None:
    """Constant paddings must give the output shape the file declares (catrt check, stricter
    than TFLite's ResizeOutputTensor): a corrupted padding would otherwise make later ops work
    on an arbitrarily larger tensor. Dimensions that are dynamic in the input's
    shape_signature (-1) are not compared."""
    padded = tuple(int(d) + int(b) + int(a) for d, (b, a) in zip(x.shape, paddings.tolist()))
    signature = x.shape_signature or ()
    dynamic = {i for i, d in enumerate(signature) if d < 0}
    if len(out.shape) != len(padded) or any(
            p != o for i, (p, o) in enumerate(zip(padded, out.shape)) if i not in dynamic):
        raise CatrtError(f"{op.label}: paddings {paddings.tolist()} give shape {padded}, but the "
                         f"output tensor {tensor_label(out)} is declared {out.shape}")


def prepare(op: Operator, tensors, profile: Profile) -> PadParams:
    check_arity(op, (2,))
    x = input_tensor(op, tensors, 0, "input")
    paddings = input_tensor(op, tensors, 1, "paddings")
    out = output_tensor(op, tensors)
    expect_dtype(op, x, "input", ("int8", "int32", "float32"))
    expect_dtype(op, paddings, "paddings", ("int32", "int64"))
    if out.dtype != x.dtype:
        raise CatrtError(f"{op.label}: output type {out.dtype} differs from input type {x.dtype}")
    if len(x.shape) > MAX_PAD_RANK:
        raise CatrtError(f"{op.label}: input rank {len(x.shape)} exceeds {MAX_PAD_RANK}")
    if paddings.shape != (len(x.shape), 2):
        raise CatrtError(f"{op.label}: paddings shape {paddings.shape}, expected "
                         f"({len(x.shape)}, 2)")
    if paddings.data is not None and np.any(paddings.data < 0):
        raise CatrtError(f"{op.label}: negative paddings {paddings.data.tolist()}")
    if paddings.data is not None:
        _check_padded_shape(op, x, paddings.data, out)
    pad_value = 0
    if x.dtype == "int8":
        pad_value = per_tensor_qparams(op, out, "output")[1]
        if not -128 <= pad_value <= 127:
            raise CatrtError(f"{op.label}: output zero point {pad_value} is outside int8")
    return PadParams(pad_value=pad_value)


def evaluate(params: PadParams, inputs: list) -> np.ndarray:
    return pad(inputs[0], inputs[1], params.pad_value)
