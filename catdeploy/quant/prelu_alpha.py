"""The int8 grid of PRELU's slopes: what the integer graph multiplies by (TFLite PRELU takes alpha
as an int8 tensor), shared by the lowering and the simulator's training mode so both use the same
codes."""
from __future__ import annotations

import numpy as np

ALPHA_QMAX = 127


def prelu_alpha_grid(alpha) -> tuple[np.ndarray, float]:
    """(int8 codes, float32 scale) of per-channel slopes on one symmetric per-tensor grid
    (zero point 0, scale max|alpha| / 127, round half to even)."""
    a = np.asarray(alpha, dtype=np.float32)
    largest = float(np.max(np.abs(a)))
    if not np.isfinite(largest) or largest == 0.0:
        raise ValueError(f"PRELU slopes {alpha!r} need a finite nonzero largest magnitude")
    scale = np.float32(np.float32(largest) / np.float32(ALPHA_QMAX))
    codes = np.clip(np.round(a / scale), -ALPHA_QMAX, ALPHA_QMAX).astype(np.int8)
    return codes, float(scale)
