"""Capture of the edge architectures' ops: hardswish / hardsigmoid / sigmoid / SiLU, squeeze-
excitation, channel shuffle, chunk / split, unequal concatenation, ceil-mode max-pool, dropout and
stochastic depth; the graphs reproduce the torch models."""
from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn as nn
import torchvision

from catdeploy.capture import capture
from catdeploy.capture.check import capture_check
from catdeploy.data.zoo import build_model, check_state_dict
from catdeploy.errors import UserError
from tests.capture.edge_models import TinyEffNet, TinyInception, TinyMBV3, TinyShuffle, seeded

torch.set_num_threads(1)
X = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def _kinds(graph) -> Counter:
    return Counter(n.kind.value for n in graph.nodes)


@pytest.mark.parametrize("model_class, expected", [
    (TinyMBV3, {"HARDSWISH": 4, "HARDSIGMOID": 1, "MUL": 1, "GLOBAL_AVG_POOL": 2}),
    (TinyEffNet, {"SILU": 3, "SIGMOID": 1, "MUL": 1, "ADD": 1}),
    (TinyShuffle, {"SLICE": 4, "CHANNEL_SHUFFLE": 1, "CONCAT": 2, "MAX_POOL2D": 1}),
    (TinyInception, {"CONCAT": 1, "MAX_POOL2D": 2}),
])
def test_edge_ops_capture_and_match_torch(model_class, expected):
    model = seeded(model_class())
    graph = capture(model, (1, 3, 16, 16))
    kinds = _kinds(graph)
    for kind, count in expected.items():
        assert kinds[kind] == count, (kind, kinds)
    assert capture_check(model, graph, X) < 1e-5


def test_dropout_and_stochastic_depth_vanish():
    graph = capture(seeded(TinyEffNet()), (1, 3, 16, 16))
    assert not any("drop" in n.name or "dropout" in n.name for n in graph.nodes)


def test_shuffle_slice_and_pool_attributes():
    graph = capture(seeded(TinyShuffle()), (1, 3, 16, 16))
    shuffle = next(n for n in graph.nodes if n.kind.value == "CHANNEL_SHUFFLE")
    assert shuffle.attrs["groups"] == 2
    slices = sorted((n.attrs["start"], n.attrs["stop"]) for n in graph.nodes if n.kind.value == "SLICE")
    assert slices == [(0, 3), (0, 4), (3, 8), (4, 8)]
    pool = graph.node("pool")
    assert pool.attrs["ceil_mode"] is True
    assert graph.values["pool"].shape == (1, 8, 4, 4)


def test_reshape_that_is_not_a_shuffle_is_refused_in_one_line():
    class Odd(nn.Module):
        def forward(self, x):
            y = x.view(x.shape[0], 3, 4, 64).transpose(2, 3)
            return y.reshape(x.shape[0], 3, 16, 16)

    with pytest.raises(UserError) as info:
        capture(Odd(), (1, 3, 16, 16))
    message = str(info.value)
    assert "\n" not in message and len(message) <= 400
    assert ("aten.view at view (Tensor.view: reshape (1, 3, 16, 16) -> (1, 3, 4, 64) is neither a "
            "per-sample flatten nor part of a channel shuffle; 1 site; ") in message
    sites = {s["at"]: s for e in info.value.entries for s in e["sites"]}   # all of them, as data
    assert sites["transpose"]["reason"].startswith("transpose of dims (2, 3) is not part")
    assert sites["reshape"]["reason"].startswith("reshape (1, 3, 64, 4) -> (1, 3, 16, 16)")


def test_chunk_along_batch_is_refused():
    class Odd(nn.Module):
        def forward(self, x):
            a, b = x.chunk(2, dim=0)
            return a + b

    with pytest.raises(UserError, match=r"Tensor.chunk: chunk along the batch dimension"):
        capture(Odd(), (2, 3, 8, 8))


def test_googlenet_without_aux_heads_and_a_clear_error_for_aux_keys():
    model = build_model("googlenet", 10)
    assert model.aux1 is None and model.aux2 is None
    with_aux = torchvision.models.googlenet(num_classes=10, aux_logits=True, init_weights=False)
    with pytest.raises(UserError) as info:
        check_state_dict(model, with_aux.state_dict(), "--weights g.pt", "googlenet")
    message = str(info.value)
    assert "\n" not in message
    assert "auxiliary-head keys (aux1.*, aux2.*)" in message and "aux_logits=False" in message
