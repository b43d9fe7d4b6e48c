"""Small CNNs written the way people write them by hand (functional calls, in-place activations,
views, indexing, Linear-based squeeze-excitation, concat branches, a grayscale 28x28 input,
nn.LeakyReLU and F.leaky_relu): each captures, its float Graph computes what torch computes, and
its W4A4 RTN export is bit-exact in every installed TFLite interpreter (BUILTIN_REF, every
tensor, 16 images)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from catdeploy import api
from catdeploy.capture.kinds import CaptureKind
from catdeploy.check.interpreters import available_interpreters
from catdeploy.check.verify import verify_models
from catdeploy.integer import prepare_inputs, program_bytes
from catdeploy.ir.execute import float_logits
from catdeploy.ir.graph import OpKind

from tests.capture.helpers import randomize_batchnorm

torch.set_num_threads(1)


class FunctionalResidual(nn.Module):
    """x + self.conv(x) residuals, F.relu, an in-place x.relu_() whose result is ignored,
    F.relu(inplace=True), F.max_pool2d and x.view(x.size(0), -1) into a Linear."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.conv1 = nn.Conv2d(16, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.down = nn.Conv2d(16, 24, 3, stride=2, padding=1)
        self.fc = nn.Linear(24 * 4 * 4, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = x + self.conv2(F.relu(self.conv1(x)))
        x.relu_()
        x = F.relu(self.down(x), inplace=True)
        x = F.max_pool2d(x, 2)
        return self.fc(x.view(x.size(0), -1))


class GrayNet(nn.Module):
    """A 1-channel 28x28 input; functional relu6 / hardswish / silu, F.avg_pool2d,
    F.adaptive_avg_pool2d and torch.flatten(x, 1)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 24, 1)
        self.fc = nn.Linear(24, classes)

    def forward(self, x):
        x = F.relu6(self.bn1(self.conv1(x)), inplace=True)
        x = F.hardswish(self.bn2(self.conv2(x)))
        x = F.avg_pool2d(F.silu(self.dw(x)), 2)
        x = F.adaptive_avg_pool2d(self.pw(x), 1)
        return self.fc(torch.flatten(x, 1))


class LinearSE(nn.Module):
    """Squeeze-excitation with nn.Linear on the pooled vector and .view(b, c, 1, 1) back."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x):
        b, c, _, _ = x.size()
        s = F.adaptive_avg_pool2d(x, 1).view(b, c)
        s = F.relu(self.fc1(s), inplace=True)
        s = torch.sigmoid(self.fc2(s)).view(b, c, 1, 1)
        return x * s


class MeanSE(nn.Module):
    """Squeeze-excitation on x.mean((2, 3)), a hard-sigmoid-free gate via Tensor.sigmoid and
    unsqueeze(-1).unsqueeze(-1) back to NCHW."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.reduce = nn.Linear(channels, 8)
        self.expand = nn.Linear(8, channels)

    def forward(self, x):
        s = self.expand(F.silu(self.reduce(x.mean((2, 3))))).sigmoid()
        return x * s.unsqueeze(-1).unsqueeze(-1)


class SENet(nn.Module):
    """Both squeeze-excitation forms, and x.mean((2, 3)) into the classifier."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.se1 = LinearSE(16)
        self.conv = nn.Sequential(nn.Conv2d(16, 24, 3, stride=2, padding=1), nn.BatchNorm2d(24), nn.ReLU(inplace=True))
        self.se2 = MeanSE(24)
        self.fc = nn.Linear(24, classes)

    def forward(self, x):
        x = self.se2(self.conv(self.se1(self.stem(x))))
        return self.fc(x.mean((2, 3)))


class ConcatBranches(nn.Module):
    """Inception-style branches joined with torch.cat, a ghost module (cat then x[:, :c]),
    Tensor.split and Tensor.narrow on channels."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(inplace=True))
        self.b1 = nn.Conv2d(16, 8, 1)
        self.b2 = nn.Conv2d(16, 8, 3, padding=1)
        self.b3 = nn.Conv2d(16, 8, 1)
        self.primary = nn.Sequential(nn.Conv2d(24, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.cheap = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), nn.BatchNorm2d(16),
                                   nn.ReLU(inplace=True))
        self.fc = nn.Linear(12, classes)

    def forward(self, x):
        x = self.stem(x)
        y = torch.cat([F.relu(self.b1(x)), F.relu(self.b2(x)), self.b3(F.max_pool2d(x, 3, 1, 1))], dim=1)
        p = self.primary(y)
        g = torch.cat([p, self.cheap(p)], dim=1)[:, :24]
        a, b = g.split(12, dim=1)
        z = a + b + g.narrow(1, 6, 12)
        return self.fc(F.adaptive_avg_pool2d(z, 1).flatten(1))


class FunctionalParams(nn.Module):
    """F.conv2d, F.batch_norm and F.linear on the module's own parameters and buffers (as timm's
    norm + act layers and Linear call them), squeeze(-1).squeeze(-1) to the vector."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.conv_w = nn.Parameter(torch.randn(12, 3, 3, 3, generator=g) * 0.3)
        self.bn_w = nn.Parameter(torch.rand(12, generator=g) + 0.5)
        self.bn_b = nn.Parameter(torch.randn(12, generator=g) * 0.2)
        self.register_buffer("bn_mean", torch.randn(12, generator=g) * 0.2)
        self.register_buffer("bn_var", torch.rand(12, generator=g) + 0.5)
        self.dw_w = nn.Parameter(torch.randn(12, 1, 3, 3, generator=g) * 0.3)
        self.dw_b = nn.Parameter(torch.randn(12, generator=g) * 0.1)
        self.fc_w = nn.Parameter(torch.randn(classes, 12, generator=g) * 0.3)
        self.fc_b = nn.Parameter(torch.randn(classes, generator=g) * 0.1)

    def forward(self, x):
        x = F.conv2d(x, self.conv_w, None, stride=2, padding=1)
        x = F.batch_norm(x, self.bn_mean, self.bn_var, self.bn_w, self.bn_b, False, 0.1, 1e-5)
        x = F.relu6(x, inplace=True)
        x = F.hardswish(F.conv2d(x, self.dw_w, self.dw_b, 1, 1, 1, 12))
        x = F.adaptive_avg_pool2d(F.avg_pool2d(x, 2), 1).squeeze(-1).squeeze(-1)
        return F.linear(x, self.fc_w, self.fc_b)


class LeakyNet(nn.Module):
    """nn.LeakyReLU(0.1) after every conv (a residual block with batch norm), then a pooled head."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.LeakyReLU(0.1))
        self.conv1 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                                   nn.LeakyReLU(0.1, inplace=True))
        self.conv2 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
        self.act = nn.LeakyReLU(0.1)
        self.down = nn.Sequential(nn.Conv2d(16, 24, 3, stride=2, padding=1), nn.LeakyReLU(0.1))
        self.fc = nn.Linear(24, classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.act(x + self.conv2(self.conv1(x)))
        x = self.down(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class FunctionalLeaky(nn.Module):
    """F.leaky_relu in forward: its default slope, slope 0.2, in place, and on the pooled vector."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 12, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(12, 12, 3, padding=1, groups=12)
        self.pw = nn.Conv2d(12, 16, 1)
        self.fc1 = nn.Linear(16, 16)
        self.fc2 = nn.Linear(16, classes)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x))
        x = F.leaky_relu(self.dw(x), 0.2)
        x = F.leaky_relu(self.pw(x), negative_slope=0.1, inplace=True)
        x = F.max_pool2d(x, 2)
        return self.fc2(F.leaky_relu(self.fc1(x.mean((2, 3))), 0.1))


# name -> (builder, input shape (C, H, W))
MODELS = {
    "functional_residual": (FunctionalResidual, (3, 16, 16)),
    "gray28": (GrayNet, (1, 28, 28)),
    "linear_se": (SENet, (3, 16, 16)),
    "concat_branches": (ConcatBranches, (3, 16, 16)),
    "functional_params": (FunctionalParams, (3, 16, 16)),
    "leaky_relu": (LeakyNet, (3, 16, 16)),
    "functional_leaky_relu": (FunctionalLeaky, (3, 16, 16)),
}


def _model(name: str) -> nn.Module:
    torch.manual_seed(0)
    return randomize_batchnorm(MODELS[name][0]().eval(), seed=1)


def _images(name: str, count: int, seed: int) -> np.ndarray:
    shape = MODELS[name][1]
    return np.random.default_rng(seed).normal(size=(count, *shape)).astype(np.float32)


@pytest.fixture(scope="module")
def exported():
    """name -> (graph, .tflite bytes, 16 quantized input images)."""
    out = {}
    for name in MODELS:
        channels, h, w = MODELS[name][1]
        graph = api.capture(_model(name), (h, w), channels)
        qg = api.calibrate(graph, api.plan(graph, "w4a4"), _images(name, 32, 1))
        model_bytes = program_bytes(qg)
        out[name] = (graph, model_bytes, prepare_inputs(model_bytes, _images(name, 16, 2)))
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_float_graph_matches_torch(name, exported):
    graph = exported[name][0]
    assert all(isinstance(n.kind, OpKind) for n in graph.nodes)
    x = _images(name, 8, 3)
    with torch.no_grad():
        expected = _model(name)(torch.from_numpy(x)).numpy()
    got = float_logits(graph, x)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-5 * max(1.0, float(np.max(np.abs(expected))))


def test_export_bit_exact_in_every_interpreter(exported):
    interpreters = available_interpreters()
    assert interpreters, "no TFLite interpreter installed"
    names = sorted(exported)
    reports = verify_models([exported[n][1:] for n in names], interpreters, ["ref"])
    failures = []
    for name, runs in zip(names, reports):
        assert len(runs) == len(interpreters)
        for run in runs:
            assert run.tensors_compared > 0
            if not run.bit_exact or run.mismatched_elements:
                failures.append((name, run.interpreter, run.mismatched_elements, run.error, run.first_mismatch))
    assert failures == []


def test_what_the_idioms_became(exported):
    kinds = {name: [n.kind for n in exported[name][0].nodes] for name in exported}
    # the ignored x.relu_() is kept: fused into the residual ADD that it overwrote
    residual = exported["functional_residual"][0]
    assert [n.attrs["activation"] for n in residual.nodes if n.kind == OpKind.ADD] == ["relu"]
    # the Linear squeeze-excitations run on [N, C, 1, 1]: 1x1 convs, no reshape left
    se = exported["linear_se"][0]
    assert {n.name: n.kind for n in se.nodes}["se1.fc1"] == OpKind.CONV2D
    gates = [n for n in se.nodes if n.kind == OpKind.MUL]
    assert len(gates) == 2 and all(se.values[n.inputs[1]].shape[2:] == (1, 1) for n in gates)
    assert kinds["linear_se"].count(OpKind.LINEAR) == 1 and kinds["linear_se"].count(OpKind.FLATTEN) == 1
    # channel indexing, split and narrow are SLICEs; F.batch_norm folded into F.conv2d
    assert kinds["concat_branches"].count(OpKind.SLICE) == 4
    params = exported["functional_params"][0]
    assert [n.kind for n in params.nodes][:2] == [OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D]
    assert params.nodes[0].attrs["activation"] == "relu6" and "bn_mean" in params.nodes[0].params
    assert not any(k == CaptureKind.BATCHNORM for ks in kinds.values() for k in ks)
    # LeakyReLU as module and as function: LEAKY_RELU with the float32 slope, not fused
    slopes = {name: [n.attrs["negative_slope"] for n in exported[name][0].nodes if n.kind == OpKind.LEAKY_RELU]
              for name in ("leaky_relu", "functional_leaky_relu")}
    assert slopes["leaky_relu"] == [float(np.float32(0.1))] * 4
    assert slopes["functional_leaky_relu"] == [float(np.float32(s)) for s in (0.01, 0.2, 0.1, 0.1)]


class Gate(nn.Module):
    """x * gate(pooled vector), the vector put back to NCHW by `back`."""

    def __init__(self, back) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 8)
        self.back = back

    def forward(self, x):
        x = self.conv(x)
        s = torch.sigmoid(self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))
        return x * self.back(s)


@pytest.mark.parametrize("back", [
    lambda s: s[:, :, None, None],
    lambda s: s[..., None, None],
    lambda s: s.reshape(s.size(0), -1, 1, 1),
    lambda s: s.unsqueeze(2).unsqueeze(3),
    lambda s: s.view(-1, 8, 1).view(-1, 8, 1, 1),
], ids=["none_index", "ellipsis_none", "reshape", "unsqueeze2", "view_chain"])
def test_vector_back_to_nchw_forms(back):
    from catdeploy.capture import capture, capture_check

    model = Gate(back).eval()
    graph = capture(model, (1, 3, 8, 8))
    assert [n.kind for n in graph.nodes] == [OpKind.CONV2D, OpKind.GLOBAL_AVG_POOL, OpKind.CONV2D,
                                             OpKind.SIGMOID, OpKind.MUL]
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert capture_check(model, graph, x) <= 1e-5


def test_vector_read_outside_the_gate_is_refused_with_what_it_needs():
    from catdeploy.capture import capture
    from catdeploy.capture.refusal import CaptureRefused

    class Leaky(Gate):
        def forward(self, x):
            x = self.conv(x)
            s = torch.sigmoid(self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))
            return x * s.view(-1, 8, 1, 1), s     # s is also an output

    with pytest.raises(CaptureRefused) as info:
        capture(Leaky(None).eval(), (1, 3, 8, 8))
    message = str(info.value)
    assert message.startswith("model Leaky: unsupported ops: aten.view at view (Tensor.view: reshape (1, 8) -> "
                              "(1, 8, 1, 1): the [N, C] vector must be computed in NCHW")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_same_models_as_torch_export_programs(name, tmp_path):
    """Saved with torch.export and read back (.pt2): the aten forms (slice, unsqueeze, relu6_, ...)
    capture to a Graph that computes what the model does."""
    from catdeploy.capture import capture, capture_check
    from catdeploy.capture.exported import load_exported_model

    model = _model(name)
    channels, h, w = MODELS[name][1]
    torch.export.save(torch.export.export(model, (torch.randn(1, channels, h, w),)), tmp_path / "m.pt2")
    graph = capture(load_exported_model(tmp_path / "m.pt2"), (1, channels, h, w))
    assert capture_check(model, graph, torch.from_numpy(_images(name, 4, 5))) <= 1e-5


def test_in_place_calls_overwrite_what_later_readers_see():
    """torch semantics of in-place calls whose result the forward ignores or keeps under another
    name: every later reader of the overwritten tensor (and of the tensors it is the same object
    as) reads the new value; an in-place call on a view of a tensor read again is refused."""
    from catdeploy.capture import capture, capture_check
    from catdeploy.capture.refusal import CaptureRefused

    class InPlace(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, padding=1)
            self.drop = nn.Dropout(0.1)
            self.other = nn.Conv2d(6, 6, 1)

        def forward(self, x):
            y = self.conv(x)
            z = self.drop(y)          # the same tensor as y in eval mode
            z.relu_()                 # overwrites y too
            w = self.other(y)
            w.clamp_(0.0, 6.0).relu_()  # chained: both overwrite w
            return w + y

    model = InPlace().eval()
    graph = capture(model, (1, 3, 8, 8))
    assert capture_check(model, graph, torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))) <= 1e-6
    assert [(n.kind, n.attrs.get("activation")) for n in graph.nodes][:2] == [
        (OpKind.CONV2D, "relu"), (OpKind.CONV2D, "relu6")]

    class OnAView(nn.Module):
        def forward(self, x):
            x[:, :1].relu_()
            return x + x

    with pytest.raises(CaptureRefused, match="works in place on a view of x, which is read again later"):
        capture(OnAView(), (1, 3, 8, 8))
