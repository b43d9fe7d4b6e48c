"""Deterministic, seeded subsets: the calibration set and CAT's held-out selection split.

All draws use ``numpy.random.default_rng(seed).permutation``, so the same (size, n, seed) gives
the same indices on every machine and numpy version (PCG64 is stable).
"""
from __future__ import annotations

import numpy as np

from catdeploy.errors import UserError

DEFAULT_CALIBRATION_SAMPLES = 1024


def calibration_indices(num_items: int, n: int = DEFAULT_CALIBRATION_SAMPLES,
                        seed: int = 0) -> np.ndarray:
    """``n`` distinct indices in ``range(num_items)``, drawn with ``seed`` (int64, draw order)."""
    if n < 1:
        raise UserError(f"--samples {n}: must be at least 1")
    if n > num_items:
        raise UserError(f"--samples {n}: the data has only {num_items} images")
    return np.random.default_rng(seed).permutation(num_items)[:n].astype(np.int64)


def calibration_count(num_items: int, samples: int | None) -> int:
    """Images to draw: an explicit ``samples`` as given (calibration_indices refuses more than
    ``num_items``); the default (None) is DEFAULT_CALIBRATION_SAMPLES, or all of smaller data."""
    return min(DEFAULT_CALIBRATION_SAMPLES, num_items) if samples is None else samples


def calibration_subset(dataset, n: int | None = DEFAULT_CALIBRATION_SAMPLES, seed: int = 0):
    """The calibration images: ``n`` images of ``dataset`` (load it with the TRAIN split) drawn
    with ``seed`` (None: calibration_count's default). Returns a new Dataset; the input is not
    modified."""
    return dataset.subset(calibration_indices(len(dataset), calibration_count(len(dataset), n), seed))


def held_out_split(indices: np.ndarray, fraction: float,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into (kept, held_out), ``held_out`` being round(fraction * len) of them,
    chosen with ``seed``. Both keep the relative order of ``indices``."""
    indices = np.asarray(indices, dtype=np.int64)
    if not 0.0 <= fraction < 1.0:
        raise UserError(f"held-out fraction {fraction}: must be in [0, 1)")
    n_held = int(round(fraction * len(indices)))
    chosen = np.zeros(len(indices), dtype=bool)
    chosen[np.random.default_rng(seed).permutation(len(indices))[:n_held]] = True
    return indices[~chosen], indices[chosen]
