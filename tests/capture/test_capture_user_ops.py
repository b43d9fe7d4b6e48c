"""Capture of the stock-int8 ops of users' edge CNNs (issue 24 item 2): LeakyReLU / PReLU,
Hardtanh and constant clamps, hard sigmoid / hard swish written out with constants, ResNet-D
average-down pools, TF-style SAME padding (timm's *Same modules); each graph reproduces its torch
model, and constants outside those patterns are refused by name."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture import capture
from catdeploy.capture.check import capture_check
from catdeploy.capture.refusal import CaptureRefused
from catdeploy.errors import UserError
from catdeploy.ir.graph import OpKind
from tests.capture.edge_models import seeded
from tests.capture.user_op_models import TinyHardWrittenOut, TinyLeaky, TinyResNetD, timm_models

torch.set_num_threads(1)


def _x(shape):
    return torch.randn(3, *shape, generator=torch.Generator().manual_seed(1)) * 2


def _kinds(graph) -> Counter:
    return Counter(n.kind.value for n in graph.nodes)


class _Lambda(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@pytest.mark.parametrize("model_class, shape, expected", [
    (TinyLeaky, (3, 16, 16), {"LEAKY_RELU": 3, "PRELU": 1, "CLAMP": 3}),
    (TinyResNetD, (3, 15, 15), {"AVG_POOL2D": 4}),
    (TinyHardWrittenOut, (3, 16, 16), {"HARDSWISH": 2, "HARDSIGMOID": 1, "MUL": 1}),
])
def test_user_ops_capture_and_match_torch(model_class, shape, expected):
    model = seeded(model_class())
    graph = capture(model, (1, *shape))
    assert {k: _kinds(graph)[k] for k in expected} == expected, _kinds(graph)
    assert "SCALAR" not in _kinds(graph)
    assert capture_check(model, graph, _x(shape)) < 1e-5


def test_leaky_relu_and_prelu_slopes():
    model = TinyLeaky()
    slopes8 = torch.linspace(-0.3, 0.6, 8)
    with torch.no_grad():
        model.prelu8.weight.copy_(slopes8)
    graph = capture(model.eval(), (1, 3, 16, 16))
    slopes = [n.attrs["negative_slope"] for n in graph.nodes if n.kind is OpKind.LEAKY_RELU]
    assert slopes == [float(np.float32(0.1)), float(np.float32(0.2)), 0.25]   # float32, PReLU(1) = 0.25
    (prelu,) = [n for n in graph.nodes if n.kind is OpKind.PRELU]
    assert prelu.attrs["alpha"] == tuple(float(v) for v in slopes8.numpy())
    uniform = nn.PReLU(4, init=0.3)
    graph = capture(nn.Sequential(nn.Conv2d(3, 4, 1), uniform), (1, 3, 4, 4))
    assert [n.kind for n in graph.nodes][-1] is OpKind.LEAKY_RELU   # equal slopes: LEAKY_RELU


@pytest.mark.parametrize("fn, kind, bounds", [
    (lambda x: F.hardtanh(x), OpKind.CLAMP, (-1.0, 1.0)),
    (lambda x: F.hardtanh(x, 0.0, 6.0), OpKind.RELU6, None),
    (lambda x: torch.clamp(x, min=0.0), OpKind.RELU, None),
    (lambda x: x.clamp(max=2.5), OpKind.CLAMP, (None, 2.5)),
    (lambda x: x.clamp_(-0.5, float("inf")), OpKind.CLAMP, (-0.5, None)),
    (lambda x: torch.clip(x, -2, 3), OpKind.CLAMP, (-2.0, 3.0)),
    (lambda x: torch.clamp_min(x, -0.5), OpKind.CLAMP, (-0.5, None)),
    (lambda x: x.clamp_max(1.5), OpKind.CLAMP, (None, 1.5)),
    (lambda x: x.clamp_min_(0.0), OpKind.RELU, None),
])
def test_clamps(fn, kind, bounds):
    graph = capture(_Lambda(fn), (1, 3, 4, 4))   # on the input: nothing to fuse RELU / RELU6 into
    (node,) = graph.nodes
    assert node.kind is kind
    if bounds is not None:
        assert (node.attrs["min"], node.attrs["max"]) == bounds


def test_empty_clamp_is_refused():
    with pytest.raises(UserError, match="min must be below max"):
        capture(_Lambda(lambda x: torch.clamp(x, 2.0, 1.0)), (1, 3, 4, 4))


@pytest.mark.parametrize("fn, kind", [
    (lambda x: F.relu6(x + 3.0) / 6.0, OpKind.HARDSIGMOID),
    (lambda x: (3 + x).clamp(0, 6).div(6), OpKind.HARDSIGMOID),
    (lambda x: x.add(3.0).clamp_(0.0, 6.0).div_(6.0), OpKind.HARDSIGMOID),
    (lambda x: F.hardtanh(x + 3, 0.0, 6.0) * (1.0 / 6.0), OpKind.HARDSIGMOID),
    (lambda x: x * F.relu6(x + 3.0) / 6.0, OpKind.HARDSWISH),
    (lambda x: x * (F.relu6(x + 3.0) / 6.0), OpKind.HARDSWISH),
    (lambda x: (F.relu6(x + 3.0) / 6.0) * x, OpKind.HARDSWISH),
    (lambda x: x.mul(F.relu6(x + 3.).div_(6.)), OpKind.HARDSWISH),   # timm.layers.hard_swish
])
def test_written_out_hard_activations_are_canonical(fn, kind):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), _Lambda(fn)).eval()
    graph = capture(model, (1, 3, 4, 4))
    assert [n.kind for n in graph.nodes] == [OpKind.CONV2D, kind]
    assert capture_check(model, graph, _x((3, 4, 4))) < 1e-5


def test_hardsigmoid_module_times_x_keeps_its_captured_form():
    """x * F.hardsigmoid(x) was captured as HARDSIGMOID and MUL before and still is (its exports
    keep their bytes); only the written-out gate becomes HARD_SWISH."""
    graph = capture(nn.Sequential(nn.Conv2d(3, 4, 1), _Lambda(lambda x: x * F.hardsigmoid(x))), (1, 3, 4, 4))
    assert [n.kind for n in graph.nodes] == [OpKind.CONV2D, OpKind.HARDSIGMOID, OpKind.MUL]


@pytest.mark.parametrize("fn, text", [
    (lambda x: x * 2.0 + 1.0, "aten.mul at 1/mul (operator.mul: x * 2.0 is not an identity or part of relu6("),
    (lambda x: F.relu6(x + 3.0) / 5.0, "aten.div at 1/truediv (operator.truediv: x / 5.0 is not "),
    (lambda x: F.relu6(x + 2.0) / 6.0, "aten.add at 1/add (operator.add: x + 2.0 is not "),
    (lambda x: (x + 3.0, F.relu6(x + 3.0) / 6.0)[1] + (x + 3.0), "(operator.add: x + 3.0 is not "),
    (lambda x: x - 1.0, "aten.sub at 1/sub (operator.sub: x - 1.0 is not "),
    (lambda x: x - x, "aten.sub at 1/sub (operator.sub: the difference of two graph tensors"),
    (lambda x: 1.0 - x, "aten.rsub at 1/sub (operator.sub: a number minus a tensor"),
])
def test_constants_outside_the_patterns_are_refused_by_name(fn, text):
    with pytest.raises(CaptureRefused, match="unsupported ops") as info:
        capture(nn.Sequential(nn.Conv2d(3, 4, 1), _Lambda(fn)), (1, 3, 4, 4))
    assert text in str(info.value) and re.search(rf" sites?; {re.escape(__file__)}:\d+\)", str(info.value))


@pytest.mark.parametrize("fn", [
    lambda x: x + 0, lambda x: 0 + x, lambda x: x + 0.0, lambda x: x + -0.0, lambda x: x - 0,
    lambda x: x * 1, lambda x: 1.0 * x, lambda x: x / 1, lambda x: torch.add(x, 0), lambda x: x.sub(0.0),
    lambda x: x.mul(1.0), lambda x: x.div(1), lambda x: torch.div(x, 1.0), lambda x: torch.sub(x, 0),
], ids=["add0", "radd0", "add0f", "add_neg0", "sub0", "mul1", "rmul1", "div1", "torch_add", "sub_method",
        "mul_method", "div_method", "torch_div", "torch_sub"])
def test_identity_constants_are_dropped(fn):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), _Lambda(fn), nn.ReLU()).eval()
    graph = capture(model, (1, 3, 4, 4))
    assert [(n.kind, n.attrs.get("activation")) for n in graph.nodes] == [(OpKind.CONV2D, "relu")]
    assert capture_check(model, graph, _x((3, 4, 4))) == 0.0


def test_identity_constants_in_place_and_as_timm_mobileone_writes_them():
    """out = 0; out += branch(x) ...; out += 0 (timm's MobileOneBlock without a scale or identity
    branch), and in-place forms whose result is ignored: the value is the tensor itself."""

    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.ModuleList([nn.Conv2d(3, 4, 3, padding=1) for _ in range(2)])

        def forward(self, x):
            out = 0
            for conv in self.convs:
                out += conv(x)
            identity = 0
            out += identity
            out.sub_(0.0).mul_(1)
            out.div_(1.0)
            return F.relu(out)

    model = seeded(Branches())
    graph = capture(model, (1, 3, 8, 8))
    assert [n.kind for n in graph.nodes] == [OpKind.CONV2D, OpKind.CONV2D, OpKind.ADD]
    assert graph.nodes[-1].attrs["activation"] == "relu"
    assert capture_check(model, graph, _x((3, 8, 8))) < 1e-6


def test_two_tensor_add_and_mul_keep_their_handlers():
    graph = capture(_Lambda(lambda x: x * x + x), (1, 3, 4, 4))
    assert [n.kind for n in graph.nodes] == [OpKind.MUL, OpKind.ADD]


@pytest.mark.skipif(not timm_models(), reason="timm is not installed")
def test_timm_same_padding_layers():
    from timm.layers.padding import pad_same_arg

    model = seeded(timm_models()["tf_same"]())
    graph = capture(model, (1, 3, 16, 16))
    stem, pool = graph.node("stem"), graph.node("max_pool")
    # timm's pad_same: [left, right, top, bottom]
    left, right, top, bottom = pad_same_arg([16, 16], [3, 3], [2, 2])
    assert stem.attrs["padding"] == (top, left, bottom, right) == (0, 0, 1, 1)
    left, right, top, bottom = pad_same_arg([8, 8], [3, 3], [2, 2])
    assert pool.attrs["padding"] == (top, left, bottom, right)
    assert graph.node("same").attrs["padding"] == (1, 1, 2, 2)       # padding='same', kernel 4
    assert graph.node("avg_pool").attrs["count_include_pad"] is True
    assert _kinds(graph)["HARDSWISH"] == 2 and _kinds(graph)["HARDSIGMOID"] == 1
    assert capture_check(model, graph, _x((3, 16, 16))) < 1e-5
