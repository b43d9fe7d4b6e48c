"""Shared helpers for the capture tests."""
from __future__ import annotations

import numpy as np
import torch

from catdeploy.ir.graph import Graph


def randomize_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every batch norm random running stats and affine params (in place), so folding them is
    not the identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) * 0.75 + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=g) * 0.8 + 0.6)
                    m.bias.copy_(torch.randn(c, generator=g) * 0.2)
    return model


def state_snapshot(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def assert_same_state(before: dict[str, np.ndarray], model: torch.nn.Module) -> None:
    after = state_snapshot(model)
    assert before.keys() == after.keys()
    for k in before:
        assert before[k].dtype == after[k].dtype, k
        assert before[k].tobytes() == after[k].tobytes(), k


def assert_graphs_equal(a: Graph, b: Graph) -> None:
    """Exact equality, parameters bit for bit and attribute types included."""
    assert a.name == b.name
    assert a.inputs == b.inputs and a.outputs == b.outputs
    assert dict(a.values) == dict(b.values)
    assert len(a.nodes) == len(b.nodes)
    for x, y in zip(a.nodes, b.nodes):
        assert (x.name, x.kind, x.inputs, x.outputs) == (y.name, y.kind, y.inputs, y.outputs)
        assert dict(x.attrs) == dict(y.attrs)
        assert {k: type(v) for k, v in x.attrs.items()} == {k: type(v) for k, v in y.attrs.items()}
        assert x.params.keys() == y.params.keys()
        for k in x.params:
            assert x.params[k].dtype == y.params[k].dtype == np.float32
            assert x.params[k].shape == y.params[k].shape
            assert x.params[k].tobytes() == y.params[k].tobytes()
