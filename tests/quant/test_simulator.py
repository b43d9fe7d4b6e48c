"""The simulator: eval mode equals the deployed integer graph (every op kind, every bit setting,
under the real TFLite interpreters), training mode rounds like it and carries gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from catdeploy import api
from catdeploy.capture import capture
from catdeploy.check.interpreters import available_interpreters
from catdeploy.quant.qparams import container_offset
from catdeploy.quant.simulate import QuantSimulator, average_pool_ste, requantize_ste, simulate_batches
from catdeploy.integer import integer_logits, integer_outputs, run_catrt
from catdeploy.check.interpreters import run_tflite
from tests.capture.edge_models import TinyEffNet, TinyInception, TinyInceptionV3, TinyMBV3, TinyShuffle, seeded
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet

torch.set_num_threads(1)
SETTINGS = (("w8a8", "default"), ("w4a4", "default"), ("w2a4", "default"), ("w4a2", "default"),
            ("w2a2", "default"), ("w4a4", "strict"), ("w2a2", "paper"))


def _graphs():
    out = {"resnet": (tiny_resnet(0), (3, 8, 8)), "mobilenet": (tiny_mobilenet(0), (3, 8, 8))}
    for name, cls in {"mbv3": TinyMBV3, "effnet": TinyEffNet, "shuffle": TinyShuffle,
                      "inception": TinyInception, "inception_v3": TinyInceptionV3}.items():
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
    from catdeploy.check.verify import catrt_profile

    interps = available_interpreters()
    assert interps
    kinds = set()
    for key, qg, x in cases:
        program = api.lower(qg)
        kinds |= {op.kind for op in program.ops}
        model = api.export_tflite(program)
        for interp in interps:
            simulated = integer_outputs(qg, x, profile=catrt_profile(interp, "ref")[0])
            deployed = run_tflite(model, x, interp, "ref")
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
        assert np.array_equal(integer_outputs(qg, x, profile=profile), run_catrt(model, x, profile=profile))


# Graphs whose every op the training-mode forward rounds as the integer kernels do (requantization,
# average pooling). TinyMBV3 / TinyEffNet add HARD_SWISH, LOGISTIC and MUL, whose fixed-point LUT /
# rescaling the surrogate only approximates.
EXACT_SURROGATE = ("resnet", "mobilenet", "shuffle", "inception", "inception_v3")


def test_training_mode_forward_equals_the_integer_graph(cases):
    """Hard codes, no QDrop: the differentiable forward gives the integer graph's logits exactly
    (same output codes) on every bit setting and convention; the others stay within a few steps."""
    for key, qg, x in cases:
        out = api.lower(qg)
        step = float(out.tensors[out.outputs[0]].scale[0])
        steps_off = np.abs(integer_logits(qg, x) - simulate_batches(qg, x)) / step
        if key[0] in EXACT_SURROGATE:
            assert steps_off.max() < 0.5, (key, steps_off.max())
        else:
            assert steps_off.max() <= 6 and np.mean(steps_off > 0.5) < 0.2, (key, steps_off.max())


def test_requantize_ste_is_tflite_double_rounding():
    """Golden: the surrogate's requantization equals catrt's MultiplyByQuantizedMultiplier
    ("dr_away", the reference kernels) for small accumulators and multipliers near one, where
    double rounding differs from rounding to nearest most often."""
    from catrt.fixed_point import multiply_by_quantized_multiplier, quantize_multiplier

    rng = np.random.default_rng(3)
    acc = rng.integers(-40, 41, size=4000)
    reals = rng.uniform(0.05, 1.0, size=4000)
    want = np.array([multiply_by_quantized_multiplier(int(a), *quantize_multiplier(float(m)))
                     for a, m in zip(acc, reals)])
    got = requantize_ste(torch.tensor(acc * reals, dtype=torch.float64), torch.tensor(reals, dtype=torch.float64))
    assert np.array_equal(got.numpy(), want)
    nearest = np.round(acc * reals)
    assert np.mean(nearest != want) > 0.02  # the case the surrogate exists for


def test_average_pool_ste_rounds_the_stored_int8_values():
    """reference_integer_ops::AveragePool: (sum +- count/2) / count on the stored int8 values, so a
    tie rounds up for a sub-8-bit grid (stored values >= -128 + 2^8 - 2^b > 0) and down at 8 bit."""
    tie = torch.tensor([0.5])                      # codes {0, 1} over 2 cells
    assert float(average_pool_ste(tie, 2, container_offset(4))) == 1.0    # stored 112 + 113 -> 113
    assert float(average_pool_ste(tie, 2, container_offset(8))) == 0.0    # stored -128 - 127 -> -128
    assert float(average_pool_ste(torch.tensor([1 / 3]), 3, container_offset(4))) == 0.0
    assert float(average_pool_ste(torch.tensor([2 / 3]), 3, container_offset(4))) == 1.0
    x = torch.tensor([1.25], requires_grad=True)
    average_pool_ste(x, 4, 112).sum().backward()
    assert float(x.grad) == 1.0


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
