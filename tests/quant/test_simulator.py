"""The simulator: eval mode equals the deployed integer graph (every op kind, every bit setting,
under the real TFLite interpreters), training mode tracks it closely and carries gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from catdeploy import api
from catdeploy.capture import capture
from catdeploy.interpreters import available_interpreters
from catdeploy.quant.simulate import QuantSimulator, integer_logits, integer_outputs, simulate_batches
from tests.capture.edge_models import TinyEffNet, TinyInception, TinyMBV3, TinyShuffle, seeded
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet

torch.set_num_threads(1)
SETTINGS = (("w8a8", "default"), ("w4a4", "default"), ("w2a4", "default"), ("w4a2", "default"),
            ("w2a2", "default"), ("w4a4", "strict"), ("w2a2", "paper"))


def _graphs():
    out = {"resnet": (tiny_resnet(0), (3, 8, 8)), "mobilenet": (tiny_mobilenet(0), (3, 8, 8))}
    for name, cls in {"mbv3": TinyMBV3, "effnet": TinyEffNet, "shuffle": TinyShuffle,
                      "inception": TinyInception}.items():
        out[name] = (capture(seeded(cls()), (1, 3, 16, 16)), (3, 16, 16))
    return out


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(5)
    out = []
    for name, (graph, shape) in _graphs().items():
        calib = rng.normal(size=(32, *shape)).astype(np.float32)
        x = (rng.normal(size=(8, *shape)) * 1.3).astype(np.float32)
        settings = SETTINGS if name in ("resnet", "mobilenet") else (("w2a2", "default"),)
        for bits, convention in settings:
            qg = api.calibrate(graph, api.plan(graph, bits, convention=convention), calib)
            out.append(((name, bits, convention), qg, x))
    return out


def test_eval_mode_equals_every_interpreter_on_every_op_kind_and_setting(cases):
    from catdeploy.verify import catrt_profile

    interps = available_interpreters()
    assert interps
    kinds = set()
    for key, qg, x in cases:
        program = api.lower(qg)
        kinds |= {op.kind for op in program.ops}
        model = api.export_tflite(program)
        for interp in interps:
            simulated = integer_outputs(qg, x, profile=catrt_profile(interp, "ref")[0])
            deployed = api.run_tflite(model, x, interp, "ref")
            assert np.array_equal(simulated, deployed), (key, interp, int(np.sum(simulated != deployed)))
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D",
            "MAX_POOL_2D", "CONCATENATION", "GATHER", "QUANTIZE", "HARD_SWISH", "LOGISTIC", "RESHAPE"} <= kinds


def test_eval_mode_follows_the_catrt_profile():
    """The eval-mode simulator runs the named catrt profile: under an optimized-kernel profile it
    equals catrt's run of the exported file with the same profile."""
    g = tiny_resnet(0)
    rng = np.random.default_rng(0)
    qg = api.calibrate(g, api.plan(g, "w4a4"), rng.normal(size=(32, 3, 8, 8)).astype(np.float32))
    x = rng.normal(size=(16, 3, 8, 8)).astype(np.float32)
    model = api.export_tflite(api.lower(qg))
    from catrt.profiles import PROFILES

    for profile in sorted(PROFILES)[:2]:
        assert np.array_equal(integer_outputs(qg, x, profile=profile), api.run_catrt(model, x, profile=profile))


def test_training_mode_tracks_the_integer_graph(cases):
    """8-bit everywhere: the surrogate's logits stay within a few output steps of the integer ones;
    at lower widths the top-1 predictions mostly agree."""
    for key, qg, x in cases:
        exact = integer_logits(qg, x)
        surrogate = simulate_batches(qg, x)
        scale = max(float(np.abs(exact).max()), 1e-6)
        if key[1] == "w8a8":
            assert np.max(np.abs(exact - surrogate)) / scale < 0.05, key


def test_training_mode_has_gradients_for_rounding_and_steps():
    g = tiny_resnet(0)
    rng = np.random.default_rng(0)
    qg = api.calibrate(g, api.plan(g, "w4a4"), rng.normal(size=(32, 3, 8, 8)).astype(np.float32))
    sim = QuantSimulator(qg)
    name = "block.conv1"
    v = sim.init_adaround(name).requires_grad_(True)
    key = next(k for k in sim.act_scales if k not in sim.fixed_grids)
    sim.act_scales[key] = sim.act_scales[key].clone().requires_grad_(True)
    out = sim.logits(torch.from_numpy(rng.normal(size=(8, 3, 8, 8)).astype(np.float32)))
    out.pow(2).sum().backward()
    assert v.grad is not None and float(v.grad.abs().sum()) > 0
    assert sim.act_scales[key].grad is not None and float(sim.act_scales[key].grad.abs()) > 0
