"""graph_to_json_and_arrays / graph_from_json_and_arrays round trips, through real .json + .npz."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision

from catdeploy.capture import capture
from catdeploy.ir.execute import run_graph
from catdeploy.ir.serialize import graph_from_json_and_arrays, graph_to_json_and_arrays
from catdeploy.ir.validate import InvalidGraph

from tests.capture.helpers import assert_graphs_equal, randomize_batchnorm

torch.set_num_threads(1)


def _through_files(graph):
    doc, arrays = graph_to_json_and_arrays(graph)
    text = json.dumps(doc, sort_keys=True)
    buf = io.BytesIO()
    np.savez(buf, **{f"graph/{k}": v for k, v in arrays.items()})
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        loaded = {k[len("graph/"):]: npz[k] for k in npz.files}
    return graph_from_json_and_arrays(json.loads(text), loaded)


def test_round_trip_mobilenet_exact() -> None:
    torch.manual_seed(0)
    model = randomize_batchnorm(torchvision.models.mobilenet_v2(weights=None, num_classes=10).eval())
    graph = capture(model)
    back = _through_files(graph)
    assert_graphs_equal(graph, back)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    assert np.array_equal(run_graph(graph, x), run_graph(back, x))


def test_round_trip_all_attr_kinds() -> None:
    model = nn.Sequential(nn.ZeroPad2d((1, 0, 0, 1)), nn.Conv2d(3, 4, 3), nn.ReLU6(),
                          nn.AvgPool2d(2, count_include_pad=False, ceil_mode=True),
                          nn.MaxPool2d(2, padding=1), nn.Hardswish(), nn.Flatten(), nn.Linear(36, 2))
    graph = capture(model, (1, 3, 8, 8))
    doc, arrays = graph_to_json_and_arrays(graph)
    assert sorted(arrays) == ["1.bias", "1.weight", "7.bias", "7.weight"]
    assert doc["nodes"][1]["params"] == {"weight": "1.weight", "bias": "1.bias"}
    assert_graphs_equal(graph, _through_files(graph))


def test_bad_documents_are_refused() -> None:
    graph = capture(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 3, 8, 8))
    doc, arrays = graph_to_json_and_arrays(graph)
    with pytest.raises(InvalidGraph, match="is missing"):
        graph_from_json_and_arrays(doc, {})
    with pytest.raises(InvalidGraph, match="not a catdeploy.graph"):
        graph_from_json_and_arrays({**doc, "version": 99}, arrays)
    broken = json.loads(json.dumps(doc))
    broken["nodes"][0]["attrs"]["stride"] = [1]
    with pytest.raises(InvalidGraph, match="stride"):
        graph_from_json_and_arrays(broken, arrays)
    broken = json.loads(json.dumps(doc))
    broken["nodes"][0]["kind"] = "SOFTMAX"
    with pytest.raises(InvalidGraph, match="malformed"):
        graph_from_json_and_arrays(broken, arrays)
    assert isinstance(InvalidGraph("x"), ValueError)
