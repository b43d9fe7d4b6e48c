"""The float lowering (`export --bits fp32`) and the writer's float32 ops: every tiny model (every
Graph op kind) equals the captured graph's float forward under the three interpreters' reference
kernels and XNNPACK."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from catdeploy import api
from catdeploy.capture import capture
from catdeploy.check.interpreters import available_interpreters
from catdeploy.ir.execute import run_graph
from catdeploy.lower.float_program import lower_float
from catdeploy.check.interpreters import run_tflite
from catrt.reader import read_model
from tests.capture.edge_models import TinyEffNet, TinyInception, TinyInceptionV3, TinyMBV3, TinyShuffle, seeded
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet

torch.set_num_threads(1)


class StandaloneActivations(torch.nn.Module):
    """ReLU6 after a concatenation and ReLU after a pool (not fusable: MAXIMUM / MINIMUM ops), a
    ceil-mode max pool over a non-negative input (explicit PAD)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(3, 2, 1)
        self.pool = torch.nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x):
        x = torch.nn.functional.relu6(torch.cat([self.a(x), self.b(x)], 1))
        x = torch.relu(self.pool(x))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _graphs():
    out = {"resnet": (tiny_resnet(0), (3, 8, 8)), "mobilenet": (tiny_mobilenet(0), (3, 8, 8)),
           "standalone": (capture(seeded(StandaloneActivations()), (1, 3, 9, 9)), (3, 9, 9))}
    for cls in (TinyEffNet, TinyInception, TinyInceptionV3, TinyMBV3, TinyShuffle):
        out[cls.__name__] = (capture(seeded(cls()), (1, 3, 16, 16)), (3, 16, 16))
    return out


@pytest.fixture(scope="module")
def float_cases():
    rng = np.random.default_rng(7)
    cases = []
    for name, (graph, shape) in _graphs().items():
        x = (rng.normal(size=(6, *shape)) * 1.5).astype(np.float32)
        cases.append((name, graph, api.export_tflite(lower_float(graph)), x, run_graph(graph, x)))
    return cases


def test_float_graph_equals_the_captured_graph_in_every_interpreter(float_cases):
    interps = available_interpreters()
    assert interps
    for name, graph, model, x, expected in float_cases:
        for interp in interps:
            for resolver in ("ref", "auto"):
                got = run_tflite(model, x, interp, resolver)
                assert got.dtype == np.float32 and got.shape == expected.shape
                rel = np.abs(got - expected).max() / np.abs(expected).max()
                assert rel <= 1e-5, (name, interp, resolver, rel)


def test_float_graph_is_all_float32_and_every_op_kind_is_covered(float_cases):
    kinds = set()
    for name, graph, model, x, expected in float_cases:
        m = read_model(model)
        assert all(t.quantization is None for t in m.tensors)
        assert {t.dtype for t in m.tensors} <= {"float32", "int32"}
        assert all(code.version <= 2 for code in m.operator_codes)
        kinds |= {op.kind for op in m.operators}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
            "PAD", "RESHAPE", "CONCATENATION", "GATHER", "LOGISTIC", "HARD_SWISH", "MAXIMUM", "MINIMUM"} <= kinds


def test_float_export_is_deterministic():
    graph, _ = _graphs()["TinyMBV3"]
    assert api.export_tflite(lower_float(graph)) == api.export_tflite(lower_float(graph))
