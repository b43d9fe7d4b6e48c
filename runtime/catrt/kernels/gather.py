"""GATHER: reference_ops::Gather (reference/gather.h): raw values along `axis`, with `batch_dims`
leading dimensions shared by params and indices, §2.8."""
from __future__ import annotations

import numpy as np

from ..errors import CatrtError


def gather(params: np.ndarray, indices: np.ndarray, *, axis: int, batch_dims: int) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= params.shape[axis]):
        raise CatrtError(f"GATHER: index out of range [0, {params.shape[axis]})")
    if batch_dims == 0:
        return np.take(params, idx, axis=axis)
    batch_shape = params.shape[:batch_dims]
    if idx.shape[:batch_dims] != batch_shape:
        raise CatrtError(f"GATHER: batch dims of params {params.shape} and indices "
                         f"{idx.shape} differ")
    flat_params = params.reshape((-1,) + params.shape[batch_dims:])
    flat_idx = idx.reshape((-1,) + idx.shape[batch_dims:])
    parts = [np.take(p, i, axis=axis - batch_dims) for p, i in zip(flat_params, flat_idx)]
    stacked = np.stack(parts) if parts else np.empty((0,), params.dtype)
    return stacked.reshape(batch_shape + stacked.shape[1:])
