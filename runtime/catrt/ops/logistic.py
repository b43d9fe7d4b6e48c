"""LOGISTIC int8 (activations.cc SigmoidPrepare / SigmoidEval, reference and generic kernels), §2.10.

Prepare requires the output scale to be exactly 1/256 (`output->params.scale == 1. / 256`) and
builds the table. The zero point -128 check belongs to the fixed-point kernel only, which neither
the ref nor the builtin resolver runs, so any int8 output zero point is accepted, as there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..kernels.logistic import logistic, logistic_table
from ..profiles import Profile
from ..reader import Operator
from .common import check_arity, expect_dtype, input_tensor, output_tensor, per_tensor_qparams

OUTPUT_SCALE = 1.0 / 256.0


@dataclass(frozen=True)
class LogisticParams:
    table: np.ndarray


def prepare(op: Operator, tensors, profile: Profile) -> LogisticParams:
    check_arity(op, (1,))
    x = input_tensor(op, tensors, 0, "input")
    out = output_tensor(op, tensors)
    expect_dtype(op, x, "input", ("int8",))
    expect_dtype(op, out, "output", ("int8",))
    if tuple(x.shape) != tuple(out.shape):
        raise CatrtError(f"{op.label}: output shape {out.shape} differs from input shape {x.shape}")
    s_in, z_in = per_tensor_qparams(op, x, "input")
    s_out, z_out = per_tensor_qparams(op, out, "output")
    if s_out != OUTPUT_SCALE:
        raise CatrtError(f"{op.label}: int8 output must have scale 1/256 (TFLite SigmoidPrepare), "
                         f"has {s_out}")
    table = logistic_table(s_in, z_in, s_out, z_out)
    table.setflags(write=False)
    return LogisticParams(table=table)


def evaluate(params: LogisticParams, inputs: list) -> np.ndarray:
    return logistic(inputs[0], table=params.table)
