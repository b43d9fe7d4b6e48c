"""torchvision classifiers: capture matches torch, BN folded, activations fused, model untouched."""
from __future__ import annotations

import pytest
import torch
import torchvision

from catdeploy.capture import capture, capture_check
from catdeploy.capture.kinds import CaptureKind
from catdeploy.ir.graph import OpKind

from tests.capture.helpers import assert_same_state, randomize_batchnorm, state_snapshot

torch.set_num_threads(1)

# name -> (batch for the accuracy check, number of ReLU/ReLU6 calls in forward)
MODELS = {
    "resnet18": (4, 17),          # stem + 2 per BasicBlock (8 blocks)
    "resnet50": (1, 49),          # stem + 3 per Bottleneck (16 blocks)
    "mobilenet_v2": (4, 35),      # every Conv2dNormActivation (ReLU6)
    "mnasnet0_5": (4, 35),
    "regnet_x_400mf": (4, 67),
}


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10)
    return randomize_batchnorm(model.eval(), seed=1)


def _relu_calls(model: torch.nn.Module) -> int:
    gm = torch.fx.symbolic_trace(model)
    return sum(1 for n in gm.graph.nodes if n.op == "call_module"
               and isinstance(gm.get_submodule(n.target), (torch.nn.ReLU, torch.nn.ReLU6)))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_torchvision_model(name: str) -> None:
    batch, relu_calls = MODELS[name]
    model = _model(name)
    before = state_snapshot(model)

    graph = capture(model, (1, 3, 32, 32))

    # The user's model is untouched: same state bit for bit, same mode.
    assert_same_state(before, model)
    assert not model.training
    # Matches torch.
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    assert capture_check(model, graph, x) <= 1e-4
    # No batch norm (or other capture-only kind) left; every op canonical.
    assert all(isinstance(n.kind, OpKind) for n in graph.nodes)
    assert not any(n.kind == CaptureKind.BATCHNORM for n in graph.nodes)
    n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert sum(n.kind in (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D) for n in graph.nodes) == n_convs
    # Every ReLU/ReLU6 fused into its producer.
    assert relu_calls == _relu_calls(model)
    assert not any(n.kind in (OpKind.RELU, OpKind.RELU6) for n in graph.nodes)
    fused = [n for n in graph.nodes if n.attrs.get("activation", "none") != "none"]
    assert len(fused) == relu_calls
    # Every conv/linear has a float32 bias.
    for n in graph.nodes:
        if n.kind in (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D, OpKind.LINEAR):
            assert n.params["bias"].shape == (n.params["weight"].shape[0],)
    assert graph.outputs and graph.values[graph.outputs[0]].shape == (1, 10)


def test_names_are_module_paths_and_deterministic() -> None:
    model = _model("resnet18")
    graph = capture(model)
    names = [n.name for n in graph.nodes]
    assert names[0] == "conv1" and "layer1.0.conv1" in names and names[-1] == "fc"
    assert "add" in names and "flatten" in names          # fx names for functions
    for n in graph.nodes:
        assert n.outputs == (n.name,)
    assert graph.inputs == ("x",)
    assert [n.name for n in capture(model).nodes] == names


def test_depthwise_and_grouped_kinds() -> None:
    mobilenet = capture(_model("mobilenet_v2"))
    dw = [n for n in mobilenet.nodes if n.kind == OpKind.DEPTHWISE_CONV2D]
    assert len(dw) == 17 and all(n.attrs["groups"] == n.params["weight"].shape[0] for n in dw)
    regnet = capture(_model("regnet_x_400mf"))
    grouped = [n for n in regnet.nodes if n.kind == OpKind.CONV2D and n.attrs["groups"] > 1]
    assert grouped and not any(n.kind == OpKind.DEPTHWISE_CONV2D for n in regnet.nodes)


def test_train_mode_model_is_captured_in_eval_and_left_in_train() -> None:
    model = _model("resnet18").train()
    before = state_snapshot(model)
    graph = capture(model)
    assert model.training
    assert_same_state(before, model)  # BN running stats not updated by the capture run
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    assert capture_check(model, graph, x) <= 1e-4
    assert model.training
