"""timm's edge CNNs capture as their module forms would: BatchNormAct2d (F.batch_norm, drop path,
activation module) folded into the convs, timm's Linear (F.linear), GhostNet's channel indexing
(x[:, :c]) as SLICE (removed when it keeps every channel), MobileOne's `0 + branch` / `x + 0`
(absent branches) dropped as identities; the float Graph computes what the model does, at 32x32
and 224x224, and two of them export bit-exact (W4A4 RTN, every tensor, every installed
interpreter's BUILTIN_REF)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from catdeploy import api
from catdeploy.capture import capture_check
from catdeploy.ir.graph import OpKind

timm = pytest.importorskip("timm")
torch.set_num_threads(1)

MODELS = ("mobilenetv3_small_050", "efficientnet_lite0", "tinynet_e", "lcnet_050", "mnasnet_small",
          "mobilenetv4_conv_small", "ghostnet_050", "resnet18d", "mobileone_s0")


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, num_classes=10).eval()


@pytest.mark.parametrize("name", MODELS)
def test_captures_and_matches_torch(name):
    model = _model(name)
    graph = api.capture(model, 32)
    assert all(isinstance(n.kind, OpKind) for n in graph.nodes)
    n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert sum(n.kind in (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D) for n in graph.nodes) >= n_convs
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert capture_check(model, graph, x) <= 1e-4
    assert graph.values[graph.outputs[0]].shape == (1, 10)
    large = api.capture(model, 224)
    assert large.values[large.outputs[0]].shape == (1, 10)


def test_ghostnet_indexing_and_folded_norm_act():
    graph = api.capture(_model("ghostnet_050"), 32)
    # out[:, :self.out_chs, :, :] keeps every channel of the concat here: removed as an identity
    assert any(n.kind == OpKind.CONCAT for n in graph.nodes)
    assert not any(n.name.startswith("getitem") for n in graph.nodes)
    mbv3 = api.capture(_model("mobilenetv3_small_050"), 32)
    assert mbv3.nodes[0].name == "conv_stem" and "bn_mean" in mbv3.nodes[0].params   # bn1 folded


def test_export_bit_exact():
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.check.verify import verify_models
    from catdeploy.integer import prepare_inputs, program_bytes

    rng = np.random.default_rng(0)
    calib = rng.normal(size=(32, 3, 32, 32)).astype(np.float32)
    x = rng.normal(size=(16, 3, 32, 32)).astype(np.float32)
    cases = []
    for name in ("ghostnet_050", "mobilenetv3_small_050"):
        graph = api.capture(_model(name), 32)
        model_bytes = program_bytes(api.calibrate(graph, api.plan(graph, "w4a4"), calib))
        cases.append((model_bytes, prepare_inputs(model_bytes, x)))
    interpreters = available_interpreters()
    assert interpreters
    for runs in verify_models(cases, interpreters, ["ref"]):
        assert len(runs) == len(interpreters)
        assert all(r.bit_exact and r.mismatched_elements == 0 for r in runs), [r.to_dict() for r in runs]
