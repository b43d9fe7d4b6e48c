"""One small model per torch spelling: each maps to the documented canonical op and computes the
same as torch."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture import capture, capture_check
from catdeploy.ir.graph import OpKind

from tests.capture.helpers import randomize_batchnorm

torch.set_num_threads(1)


def _check(model: nn.Module, shape=(2, 3, 8, 8), tol: float = 1e-5, scale: float = 1.0):
    torch.manual_seed(0)
    randomize_batchnorm(model, seed=5)
    graph = capture(model, (1,) + tuple(shape[1:]))
    x = scale * torch.randn(shape, generator=torch.Generator().manual_seed(1))
    assert capture_check(model, graph, x) <= tol
    return graph


def _kinds(graph) -> list[str]:
    return [n.kind.value for n in graph.nodes]


class Lambda(nn.Module):
    def __init__(self, fn, *children: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.body = nn.ModuleList(children)

    def forward(self, x):
        return self.fn(self, x)


# Global pooling variants -> GLOBAL_AVG_POOL (+ FLATTEN without keepdim)
@pytest.mark.parametrize("fn, kinds", [
    (lambda s, x: x.mean([2, 3]), ["GLOBAL_AVG_POOL", "FLATTEN"]),
    (lambda s, x: x.mean((2, 3), keepdim=True), ["GLOBAL_AVG_POOL"]),
    (lambda s, x: torch.mean(x, (2, 3)), ["GLOBAL_AVG_POOL", "FLATTEN"]),
    (lambda s, x: torch.mean(x, dim=(-1, -2)), ["GLOBAL_AVG_POOL", "FLATTEN"]),
    (lambda s, x: F.adaptive_avg_pool2d(x, 1), ["GLOBAL_AVG_POOL"]),
    (lambda s, x: F.adaptive_avg_pool2d(x, (1, 1)), ["GLOBAL_AVG_POOL"]),
    (lambda s, x: nn.functional.avg_pool2d(x, 8), ["GLOBAL_AVG_POOL"]),
    (lambda s, x: torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), ["GLOBAL_AVG_POOL", "FLATTEN"]),
])
def test_global_pool_variants(fn, kinds) -> None:
    graph = _check(Lambda(fn))
    assert _kinds(graph) == kinds


def test_adaptive_pool_module_and_uniform_windows() -> None:
    graph = _check(nn.Sequential(nn.AdaptiveAvgPool2d((1, 1))))
    assert _kinds(graph) == ["GLOBAL_AVG_POOL"] and graph.nodes[0].name == "0"
    graph = _check(nn.Sequential(nn.AdaptiveAvgPool2d((4, 2))))
    assert _kinds(graph) == ["AVG_POOL2D"] and graph.nodes[0].attrs["kernel"] == (2, 4)
    graph = _check(nn.Sequential(nn.AdaptiveMaxPool2d(2)))
    assert _kinds(graph) == ["MAX_POOL2D"] and graph.nodes[0].attrs["stride"] == (4, 4)
    graph = _check(nn.Sequential(nn.Conv2d(3, 4, 1), nn.AdaptiveAvgPool2d(8)))
    assert _kinds(graph) == ["CONV2D"]  # output size == input size: nothing to do


@pytest.mark.parametrize("fn", [
    lambda s, x: torch.flatten(x, 1),
    lambda s, x: x.flatten(1),
    lambda s, x: x.view(x.size(0), -1),
    lambda s, x: x.reshape(x.shape[0], -1),
    lambda s, x: s.body[0](x),
])
def test_flatten_variants(fn) -> None:
    graph = _check(Lambda(fn, nn.Flatten()))
    assert _kinds(graph) == ["FLATTEN"]
    assert graph.values[graph.outputs[0]].shape == (1, 3 * 8 * 8)


def test_flatten_of_flat_value_is_dropped() -> None:
    graph = _check(nn.Sequential(nn.Flatten(), nn.Linear(192, 5), nn.Flatten()))
    assert _kinds(graph) == ["FLATTEN", "LINEAR"]


@pytest.mark.parametrize("fn, kind", [
    (lambda s, x: F.relu(x), "RELU"),
    (lambda s, x: torch.relu(x), "RELU"),
    (lambda s, x: x.relu(), "RELU"),
    (lambda s, x: F.relu(x.clone(), inplace=True), "RELU"),
    (lambda s, x: x.clone().relu_(), "RELU"),
    (lambda s, x: x.clamp(min=0), "RELU"),
    (lambda s, x: F.relu6(x), "RELU6"),
    (lambda s, x: F.hardtanh(x, 0.0, 6.0), "RELU6"),
    (lambda s, x: torch.clamp(x, 0, 6), "RELU6"),
    (lambda s, x: F.hardswish(x), "HARDSWISH"),
])
def test_activation_functions(fn, kind) -> None:
    graph = _check(Lambda(fn), scale=4.0)  # inputs beyond 6 and below -3
    assert _kinds(graph)[-1] == kind  # standalone: nothing to fuse into


@pytest.mark.parametrize("act, name", [(nn.ReLU(), "relu"), (nn.ReLU6(), "relu6"),
                                       (nn.Hardtanh(0.0, 6.0), "relu6"), (nn.ReLU(inplace=True), "relu")])
def test_activation_modules_fuse_into_conv(act, name) -> None:
    graph = _check(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), act))
    assert _kinds(graph) == ["CONV2D"] and graph.nodes[0].attrs["activation"] == name


def test_hardswish_module_stays() -> None:
    graph = _check(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Hardswish()))
    assert _kinds(graph) == ["CONV2D", "HARDSWISH"]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv_variants() -> None:
    graph = _check(nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False),
        nn.Conv2d(6, 12, 3, padding="same", dilation=2, groups=3),  # grouped
        nn.Conv2d(12, 24, 3, padding=1, groups=12),                 # depthwise, multiplier 2
        nn.Conv2d(24, 24, (2, 3), padding="same", groups=24),       # depthwise, asymmetric 'same'
        nn.Conv2d(24, 5, 1, padding="valid"),
    ), shape=(2, 3, 9, 9))
    kinds = _kinds(graph)
    assert kinds == ["CONV2D", "CONV2D", "DEPTHWISE_CONV2D", "DEPTHWISE_CONV2D", "CONV2D"]
    first, grouped, dw2, same, _ = graph.nodes
    assert first.attrs["padding"] == (1, 1, 1, 1) and first.attrs["stride"] == (2, 2)
    assert not first.params["bias"].any()  # zero bias added for bias=False
    assert grouped.attrs["groups"] == 3 and grouped.attrs["dilation"] == (2, 2)
    assert grouped.attrs["padding"] == (2, 2, 2, 2)
    assert dw2.params["weight"].shape == (24, 1, 3, 3)
    assert same.attrs["padding"] == (0, 1, 1, 1)  # odd total: extra cell at the end


def test_pools() -> None:
    graph = _check(nn.Sequential(
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False),
        nn.AvgPool2d(3, ceil_mode=True),
    ), shape=(2, 3, 10, 10))
    assert _kinds(graph) == ["MAX_POOL2D", "AVG_POOL2D", "AVG_POOL2D"]
    mp, ap, _ = graph.nodes
    assert mp.attrs == {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1), "ceil_mode": True}
    assert ap.attrs["count_include_pad"] is False


def test_functional_pools() -> None:
    graph = _check(Lambda(lambda s, x: F.avg_pool2d(F.max_pool2d(x, 2), 3, 1, 1)))
    assert _kinds(graph) == ["MAX_POOL2D", "AVG_POOL2D"]


def test_residual_add_mul_concat_pad() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 3, 3, padding=1)
            self.b = nn.Conv2d(3, 3, 1)
            self.pad = nn.ZeroPad2d((1, 0, 2, 1))
            self.cpad = nn.ConstantPad2d(1, 0.5)

        def forward(self, x):
            y = self.a(x)
            y += x                                    # operator.add
            z = torch.add(y, self.b(x)).relu()        # fused into the add
            w = z.mul(F.hardswish(x))                 # MUL
            v = torch.cat([w, z * x], dim=-3)         # CONCAT axis 1
            v = F.pad(v, (1, 1, 0, 2))
            return self.cpad(self.pad(v).contiguous())

    graph = _check(Block())
    kinds = _kinds(graph)
    assert kinds.count("ADD") == 2 and kinds.count("MUL") == 2 and kinds.count("CONCAT") == 1
    assert kinds.count("PAD") == 3
    add = [n for n in graph.nodes if n.kind == OpKind.ADD]
    assert [n.attrs["activation"] for n in add] == ["none", "relu"]
    concat = graph.node("cat")
    assert concat.attrs["axis"] == 1
    pads = [n.attrs["pads"] for n in graph.nodes if n.kind == OpKind.PAD]
    assert pads == [(0, 1, 2, 1), (2, 1, 1, 0), (1, 1, 1, 1)]
    assert [n.attrs["value"] for n in graph.nodes if n.kind == OpKind.PAD] == [0.0, 0.0, 0.5]


def test_linear_bn1d_dropout_identity() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(48, 8, bias=False),
                          nn.BatchNorm1d(8), nn.ReLU(), nn.Identity(), nn.Linear(8, 3))
    graph = _check(model, shape=(3, 3, 4, 4))
    assert _kinds(graph) == ["FLATTEN", "LINEAR", "LINEAR"]
    assert graph.nodes[1].name == "2" and graph.nodes[1].attrs["activation"] == "relu"


def test_standalone_batchnorm_becomes_depthwise_affine() -> None:
    class PreAct(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            y = self.conv(x)
            return self.conv2(F.relu(self.bn(y))) + y  # y has two readers: BN cannot fold

    graph = _check(PreAct())
    bn = graph.node("bn")
    assert bn.kind == OpKind.DEPTHWISE_CONV2D and bn.attrs["activation"] == "relu"
    assert bn.params["weight"].shape == (4, 1, 1, 1)
    graph = _check(nn.Sequential(nn.BatchNorm2d(3)))
    assert _kinds(graph) == ["DEPTHWISE_CONV2D"]


def test_bn_chain_and_reused_module_names() -> None:
    class Reuse(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.bn = nn.BatchNorm2d(3)
            self.bn2 = nn.BatchNorm2d(3)
            self.relu = nn.ReLU()

        def forward(self, x):
            y = self.relu(self.bn2(self.bn(self.conv(x))))
            return self.relu(self.conv(y))   # conv and relu called twice

    graph = _check(Reuse())
    assert [n.name for n in graph.nodes] == ["conv", "conv@1"]
    assert [n.attrs["activation"] for n in graph.nodes] == ["relu", "relu"]


def test_multiple_outputs() -> None:
    graph = _check(Lambda(lambda s, x: (s.body[0](x), x.mean((2, 3))), nn.Conv2d(3, 2, 1)))
    assert len(graph.outputs) == 2


def test_conv_output_also_graph_output_is_not_fused() -> None:
    graph = _check(Lambda(lambda s, x: (s.body[0](x), F.relu(s.body[0](x))), nn.Conv2d(3, 2, 1)))
    # two calls of the same conv: two nodes; only the second has a single reader
    assert [n.name for n in graph.nodes] == ["body.0", "body.0@1"]
    assert graph.nodes[1].attrs["activation"] == "relu"
    graph = _check(Lambda(lambda s, x: (lambda y: (y, F.relu(y)))(s.body[0](x)), nn.Conv2d(3, 2, 1)))
    assert _kinds(graph) == ["CONV2D", "RELU"]
