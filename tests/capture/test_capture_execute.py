"""run_graph: outputs, kept values, hooks for fake quantization, seeding any value, gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture import capture
from catdeploy.ir.execute import params_as_tensors, run_graph
from catdeploy.ir.graph import Graph, Node, OpKind, Value

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def graph() -> Graph:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU6(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    return capture(model, (1, 3, 8, 8))


def _x(n: int = 2) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 3, 8, 8)).astype(np.float32)


def test_numpy_in_numpy_out_torch_in_torch_out(graph) -> None:
    y_np = run_graph(graph, _x())
    y_t = run_graph(graph, torch.from_numpy(_x()))
    assert isinstance(y_np, np.ndarray) and isinstance(y_t, torch.Tensor)
    assert y_np.shape == (2, 3) and np.array_equal(y_np, y_t.numpy())
    assert run_graph(graph, _x(5)).shape == (5, 3)  # any batch size


def test_keep_all_and_some(graph) -> None:
    y, values = run_graph(graph, _x(), keep="all")
    assert set(values) == set(graph.values)
    assert np.array_equal(values[graph.outputs[0]], y)
    assert values["0"].min() >= 0  # relu fused into conv "0"
    _, some = run_graph(graph, _x(), keep=["2"])
    assert list(some) == ["2"] and some["2"].max() <= 6
    with pytest.raises(KeyError):
        run_graph(graph, _x(), keep=["nope"])


def test_value_transform_sees_every_value_and_changes_downstream(graph) -> None:
    seen = []

    def record(name, t):
        seen.append(name)
        return t

    run_graph(graph, _x(), value_transform=record)
    assert seen == [graph.inputs[0]] + [n.output for n in graph.nodes]

    def zero_first_conv(name, t):
        return torch.zeros_like(t) if name == "0" else t

    y = run_graph(graph, _x(), value_transform=zero_first_conv)
    last = graph.nodes[-1]
    bias_path = run_graph(graph, {"0": np.zeros((2, 4, 8, 8), np.float32)})
    assert y.shape == (2, 3) and np.allclose(y, bias_path)
    assert last.kind == OpKind.LINEAR


def test_params_override_and_gradients(graph) -> None:
    params = params_as_tensors(graph)
    w = params["6"]["weight"].clone().requires_grad_(True)
    x = torch.from_numpy(_x())
    y = run_graph(graph, x, params_override={"6": {"weight": w}})
    assert torch.equal(y, run_graph(graph, x))
    y.sum().backward()
    assert w.grad is not None and w.grad.shape == (3, 4)
    y2 = run_graph(graph, x, params_override={"6": {"weight": torch.zeros(3, 4), "bias": np.ones(3, np.float32)}})
    assert torch.equal(y2, torch.ones(2, 3))
    with pytest.raises(KeyError):
        run_graph(graph, x, params_override={"6": {"scale": torch.zeros(3)}})


def test_run_a_block_from_a_seeded_value(graph) -> None:
    _, values = run_graph(graph, _x(), keep="all")
    block = run_graph(graph, {"0": values["0"]}, outputs=["2"])
    assert np.array_equal(block, values["2"])
    with pytest.raises(KeyError, match="cannot be computed|needs value"):
        run_graph(graph, {"2": values["2"]}, outputs=["0"])


def test_input_shape_checked(graph) -> None:
    with pytest.raises(ValueError, match="graph expects"):
        run_graph(graph, np.zeros((1, 3, 9, 9), np.float32))


def _single(kind, attrs, shape=(2, 3, 7, 7), params=None, out_shape=None) -> Graph:
    node = Node("op", kind, ("x",), ("op",), attrs, params or {})
    return Graph((node,), {"x": Value("x", shape), "op": Value("op", out_shape or shape)}, ("x",), ("op",))


def test_asymmetric_padding_paths_match_explicit_padding() -> None:
    x = torch.randn(2, 3, 7, 7, generator=torch.Generator().manual_seed(0))
    pads = (0, 1, 2, 1)  # top, left, bottom, right
    torch_pads = (1, 1, 0, 2)
    w = torch.randn(3, 1, 3, 3, generator=torch.Generator().manual_seed(1))
    b = torch.randn(3, generator=torch.Generator().manual_seed(2))
    conv = _single(OpKind.DEPTHWISE_CONV2D, {"stride": (2, 2), "padding": pads, "dilation": (1, 1),
                                             "groups": 3, "activation": "relu6"},
                   params={"weight": w.numpy(), "bias": b.numpy()})
    expected = F.hardtanh(F.conv2d(F.pad(x, torch_pads), w, b, stride=2, groups=3), 0, 6)
    assert torch.allclose(run_graph(conv, x), expected, atol=1e-6)

    pool = {"kernel": (3, 3), "stride": (2, 2), "padding": pads, "ceil_mode": False}
    mp = _single(OpKind.MAX_POOL2D, pool)
    assert torch.equal(run_graph(mp, x), F.max_pool2d(F.pad(x, torch_pads, value=-np.inf), 3, 2))
    ap = _single(OpKind.AVG_POOL2D, {**pool, "count_include_pad": True})
    assert torch.allclose(run_graph(ap, x), F.avg_pool2d(F.pad(x, torch_pads), 3, 2), atol=1e-6)
    ap = _single(OpKind.AVG_POOL2D, {**pool, "count_include_pad": False})
    got = run_graph(ap, x)
    padded = F.pad(x, torch_pads)
    counts = F.avg_pool2d(F.pad(torch.ones(1, 1, 7, 7), torch_pads), 3, 2, divisor_override=1)
    assert torch.allclose(got, F.avg_pool2d(padded, 3, 2, divisor_override=1) / counts, atol=1e-6)
    # the last window holds 2 real cells of 9: their mean, not their sum / 9
    assert counts[0, 0, -1, -1] == 2
    assert torch.allclose(got[:, :, -1, -1], x[:, :, 6, 5:7].mean(-1), atol=1e-6)
