"""capture_check: how far a captured Graph is from the torch model it came from."""
from __future__ import annotations

import numpy as np
import torch

from catdeploy.capture.capture import private_copy
from catdeploy.ir.execute import run_graph
from catdeploy.ir.graph import Graph


def capture_check(model: torch.nn.Module, graph: Graph, x: np.ndarray | torch.Tensor) -> float:
    """max |graph(x) - model(x)| / max |model(x)| over all outputs, with the model in eval mode
    (on a private copy, so the caller's model is not switched to eval)."""
    reference = private_copy(model)
    x_t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu().float()
    with torch.no_grad():
        expected = reference(x_t)
        got = run_graph(graph, x_t)
    expected = expected if isinstance(expected, (tuple, list)) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    if len(expected) != len(got):
        raise ValueError(f"model returns {len(expected)} outputs, graph {len(got)}")
    diff = max(float((g - e).abs().max()) for g, e in zip(got, expected))
    scale = max(float(e.abs().max()) for e in expected)
    return diff / scale if scale > 0 else diff
