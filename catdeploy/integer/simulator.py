"""The simulator's eval mode: the QuantizedGraph lowered to its program and run by catrt's integer
kernels under a named profile, so simulated logits are the deployed logits bit for bit (the
training-mode surrogate that reconstruction differentiates through is quant/simulate.py)."""
from __future__ import annotations

import numpy as np

from catdeploy.integer.program import program_bytes
from catdeploy.integer.runner import dequantize_output, run_catrt
from catdeploy.quant.quantized_graph import QuantizedGraph


def integer_outputs(qg: QuantizedGraph, x: np.ndarray, profile: str | None = None,
                    batch_size: int = 256) -> np.ndarray:
    """Raw int8 logits of the lowered program (with its CAT head, if any) run by catrt under
    `profile` (catrt's default: the reference kernels)."""
    return run_catrt(program_bytes(qg), x, batch_size=batch_size, profile=profile)


def integer_logits(qg: QuantizedGraph, x: np.ndarray, profile: str | None = None,
                   batch_size: int = 256) -> np.ndarray:
    """integer_outputs dequantized, as float32."""
    model_bytes = program_bytes(qg)
    q = run_catrt(model_bytes, x, batch_size=batch_size, profile=profile)
    return dequantize_output(model_bytes, q).astype(np.float32)
