"""AVERAGE_POOL_2D int8 (pooling.cc Prepare + reference AveragePool), §2.7."""
from __future__ import annotations

import numpy as np

from ..kernels.average_pool_2d import average_pool_2d
from ..profiles import Profile
from ..reader import Operator
from ._pool import PoolParams, prepare_pool


def prepare(op: Operator, tensors, profile: Profile) -> PoolParams:
    return prepare_pool(op, tensors)


def evaluate(params: PoolParams, inputs: list) -> np.ndarray:
    return average_pool_2d(inputs[0], filter_size=params.filter_size, stride=params.stride,
                           padding=params.padding, activation_min=params.activation_min,
                           activation_max=params.activation_max)
