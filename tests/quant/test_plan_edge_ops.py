"""Plan rules for the edge architectures: squeeze-excitation path and gates at 8 bit by default,
fixed grids of bounded activations, requantized copies for concatenation inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from catdeploy.capture import capture
from catdeploy.ir.execute import run_graph
from catdeploy.quant.calibrate_rtn import calibrate_rtn
from catdeploy.quant.plan import QuantPlan, make_plan
from tests.capture.edge_models import TinyEffNet, TinyInception, TinyMBV3, TinyShuffle, seeded


def _graph(model_class):
    return capture(seeded(model_class()), (1, 3, 16, 16))


def test_se_path_and_gate_are_8_bit_by_default():
    p = make_plan(_graph(TinyMBV3), "w2a2")
    se = ("block.se.avgpool", "block.se.fc1", "block.se.fc2", "block.se.scale_activation")
    assert p.se_path == tuple(sorted(se))
    assert all(p.values[v] == 8 for v in se)
    assert p.weights["block.se.fc1"] == p.weights["block.se.fc2"] == 8
    assert p.fixed_grids == {"block.se.scale_activation": "unit_interval"}
    assert p.values["block.dw.1"] == 8        # the scaled feature map: read by the MUL
    assert p.values["mul"] == 2               # read by the projection conv only
    assert p.weights["block.project"] == 2


def test_strict_plan_keeps_only_the_logistic_grid_at_8_bit():
    p = make_plan(_graph(TinyEffNet), "w4a4", strict=True)
    assert p.weights["se.fc1"] == 4 and p.values["se.fc1"] == 4
    assert p.fixed_grids["se.scale_activation"] == "logistic"
    assert p.values["se.scale_activation"] == 8   # TFLite LOGISTIC writes scale 1/256
    assert p.requants["se.scale_activation@a4"] == ("se.scale_activation", 4)
    assert p.node_inputs["mul"] == ("se.scale_activation@a4", "dw.1")


def test_concatenation_copies_shared_inputs_onto_its_grid():
    p = make_plan(_graph(TinyInception), "w4a4")
    # conv branches write straight into the concatenated grid; the stem output, read by four
    # nodes, gets a copy on that grid
    assert {p.groups[v] for v in ("b1.0", "b2.0", "b3.1", "cat")} == {p.groups["cat"]}
    assert p.groups["stem.0"] != p.groups["cat"]
    assert p.grid_of == {"stem.0@cat": "cat"}
    assert p.requants["stem.0@cat"] == ("stem.0", p.values["cat"])
    assert p.node_inputs["cat"] == ("b1.0", "b2.0", "b3.1", "stem.0@cat")
    s = make_plan(_graph(TinyShuffle), "w4a4")
    assert s.grid_of == {"getitem@cat": "cat", "getitem_7@cat_1": "cat_1", "getitem_6@cat_1": "cat_1"}
    assert s.groups["branch.3"] == s.groups["cat"] == s.groups["view_1"] == s.groups["getitem_6"]


@pytest.mark.parametrize("model_class", [TinyMBV3, TinyEffNet, TinyShuffle, TinyInception])
def test_round_trip(model_class):
    p = make_plan(_graph(model_class), "w4a2")
    assert QuantPlan.from_dict(p.to_dict()) == p


def test_calibrated_grids_of_bounded_activations_and_concat_copies():
    graph = _graph(TinyEffNet)
    x = np.random.default_rng(0).normal(size=(8, 3, 16, 16)).astype(np.float32)

    def values(g, xb):
        with torch.no_grad():
            return run_graph(g, xb, keep="all")[1]

    qg = calibrate_rtn(graph, make_plan(graph, "w4a4"), [x], run_values=values)
    gate = qg.act_qparams["se.scale_activation"]
    assert (gate.bits, gate.scale, gate.tflite_zero_point) == (8, 1 / 256, -128)
    mbv3 = _graph(TinyMBV3)
    qg = calibrate_rtn(mbv3, make_plan(mbv3, "w4a4", strict=True), [x], run_values=values)
    hs = qg.act_qparams["block.se.scale_activation"]
    assert hs.bits == 4 and hs.zero_point == 0 and hs.scale == np.float32(1 / 15)
    inception = _graph(TinyInception)
    qg = calibrate_rtn(inception, make_plan(inception, "w4a4"), [x], run_values=values)
    assert qg.act_qparams["stem.0@cat"] == qg.act_qparams["cat"]
