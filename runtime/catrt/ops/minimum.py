"""MINIMUM (maximum_minimum.cc, reference MaximumMinimumBroadcastSlow), §2.8."""
from __future__ import annotations

import numpy as np

from ..kernels.minimum import minimum
from ..profiles import Profile
from ..reader import Operator
from ._minmax import MinMaxParams, prepare_minmax


def prepare(op: Operator, tensors, profile: Profile) -> MinMaxParams:
    return prepare_minmax(op, tensors)


def evaluate(params: MinMaxParams, inputs: list) -> np.ndarray:
    return minimum(inputs[0], inputs[1])
