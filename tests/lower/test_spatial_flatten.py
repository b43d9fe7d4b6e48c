"""A fully connected layer reading a flattened spatial feature map (AlexNet, VGG, LeNet-style
CNNs): lowered as RESHAPE of the NHWC tensor + FULLY_CONNECTED with the weight columns in H, W, C
order (catdeploy.lower.feature_order). Checked against the captured graph's NCHW float forward
(float export, every interpreter), bit for bit between catrt and the interpreters (integer), and
against the training-mode simulator, which flattens in NCHW order as torch does."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from catdeploy import api
from catdeploy.capture import capture
from catdeploy.check.interpreters import available_interpreters
from catdeploy.check.verify import verify_models
from catdeploy.errors import UserError
from catdeploy.ir.execute import run_graph
from catdeploy.lower.feature_order import nhwc_columns
from catdeploy.lower.float_program import lower_float
from catdeploy.integer import integer_logits
from catdeploy.quant.simulate import simulate
from catdeploy.integer import prepare_inputs
from catdeploy.check.interpreters import run_tflite
from tests.capture.edge_models import seeded

torch.set_num_threads(1)


class SpatialHead(torch.nn.Module):
    """conv -> pool to 4 x 3 (not square, so H and W cannot be confused) -> flatten -> FC -> FC."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 5, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc1 = torch.nn.Linear(5 * 4 * 3, 16)
        self.fc2 = torch.nn.Linear(16, 4)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv(x)))
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


class FlattenOutput(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x):
        return torch.flatten(self.conv(x), 1)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(11)
    graph = capture(seeded(SpatialHead()), (1, 3, 8, 6))
    calib = rng.normal(size=(32, 3, 8, 6)).astype(np.float32)
    x = (rng.normal(size=(16, 3, 8, 6)) * 1.2).astype(np.float32)
    return graph, calib, x


def test_column_order_is_h_w_c():
    graph = capture(seeded(SpatialHead()), (1, 3, 8, 6))
    columns = nhwc_columns(graph, graph.node("fc1"))
    # NHWC position (h, w, c) holds NCHW feature c * 12 + h * 3 + w
    assert columns.tolist()[:6] == [0, 12, 24, 36, 48, 1]
    assert sorted(columns.tolist()) == list(range(60))
    assert nhwc_columns(graph, graph.node("fc2")) is None


def test_float_export_equals_the_nchw_forward(case):
    graph, _, x = case
    model = api.export_tflite(lower_float(graph))
    expected = run_graph(graph, x)
    for interp in available_interpreters():
        got = run_tflite(model, x, interp, "ref")
        assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max(), interp


@pytest.mark.parametrize("bits", ["w8a8", "w4a4"])
def test_integer_export_is_bit_exact_and_matches_the_nchw_simulator(case, bits):
    graph, calib, x = case
    qg = api.calibrate(graph, api.plan(graph, bits), calib)
    model = api.export_tflite(api.lower(qg))
    runs = verify_models([(model, prepare_inputs(model, x))], available_interpreters(), ["ref"])[0]
    assert runs and all(r.bit_exact and r.mismatched_elements == 0 for r in runs), [r.to_dict() for r in runs]
    step = qg.act_qparams[graph.outputs[0]].scale
    diff = np.abs(integer_logits(qg, x) - simulate(qg, x)) / step
    # the surrogate differs from the integer kernels by sub-LSB fixed-point rounding only; a
    # column order other than the input's would move the logits by many steps
    assert diff.max() <= 1.0, diff.max()


def test_a_spatial_flatten_read_by_anything_but_a_linear_is_refused():
    graph = capture(seeded(FlattenOutput()), (1, 3, 4, 4))
    qg = api.calibrate(graph, api.plan(graph, "w8a8"), np.zeros((4, 3, 4, 4), np.float32) + 0.5)
    with pytest.raises(UserError, match="flatten of a 4x4 feature map is read by the graph output"):
        api.lower(qg)
