"""LOGISTIC int8 (activations.cc SigmoidPrepare / SigmoidEval, reference and generic kernels), §2.10.

Prepare requires the output scale to be exactly 1/256 (`output->params.scale == 1. / 256`) and
builds the table. The zero point -128 check belongs to the fixed-point kernel only, which neither
the ref nor the builtin resolver runs, so any int8 output zero point is accepted, as there.
Under a profile with XNNPACK (TF 2.19, LiteRT 2.1.0 builtin / auto) the delegate takes every int8
LOGISTIC (xnnpack_delegate.cc VisitUnaryNode: type checks only) and looks it up in XNNPACK's own
table (kernels.logistic.logistic_table_xnnpack; golden edge_logistic_scales).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CatrtError
from ..kernels.logistic import logistic, logistic_table, logistic_table_xnnpack
from ..profiles import Profile
from ..reader import Operator
from .common import unary_int8_qparams

OUTPUT_SCALE = 1.0 / 256.0


@dataclass(frozen=True)
class LogisticParams:
    table: np.ndarray


def prepare(op: Operator, tensors, profile: Profile) -> LogisticParams:
    (s_in, z_in), (s_out, z_out) = unary_int8_qparams(op, tensors)
    if s_out != OUTPUT_SCALE:
        raise CatrtError(f"{op.label}: int8 output must have scale 1/256 (TFLite SigmoidPrepare), "
                         f"has {s_out}")
    build = logistic_table_xnnpack if profile.xnnpack else logistic_table
    table = build(s_in, z_in, s_out, z_out)
    table.setflags(write=False)
    return LogisticParams(table=table)


def evaluate(params: LogisticParams, inputs: list) -> np.ndarray:
    return logistic(inputs[0], table=params.table)
