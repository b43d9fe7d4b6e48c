"""RESHAPE: a copy of the raw values with a new shape (reshape.cc); at most one -1 dimension."""
from __future__ import annotations

import numpy as np

from ..errors import CatrtError


def resolve_shape(new_shape: tuple, num_elements: int, what: str = "RESHAPE") -> tuple:
    """Replace the single -1 ("stretch") dimension; raise if the element count cannot match."""
    shape = [int(d) for d in new_shape]
    stretch = [i for i, d in enumerate(shape) if d == -1]
    if len(stretch) > 1:
        raise CatrtError(f"{what}: more than one -1 in new shape {tuple(shape)}")
    if any(d < -1 for d in shape):
        raise CatrtError(f"{what}: negative dimension in new shape {tuple(shape)}")
    known = 1
    for d in shape:
        if d != -1:
            known *= d
    if stretch:
        if known == 0 or num_elements % known:
            raise CatrtError(f"{what}: cannot reshape {num_elements} elements to {tuple(shape)}")
        shape[stretch[0]] = num_elements // known
    elif known != num_elements:
        raise CatrtError(f"{what}: cannot reshape {num_elements} elements to {tuple(shape)}")
    return tuple(shape)


def reshape(x: np.ndarray, shape: tuple) -> np.ndarray:
    return np.array(x).reshape(shape)
