"""The stock-int8 ops of users' edge CNNs end to end on tiny captured models (issue 24 item 2):
capture -> plan -> RTN calibrate -> lower -> write -> catrt vs every installed TFLite interpreter
(BUILTIN_REF, and the optimized / XNNPACK resolvers on one setting), every tensor bit for bit;
the simulator's training mode equals the integer graph; what has no exact TFLite form is refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from catdeploy import api
from catdeploy.capture import capture
from catdeploy.check.interpreters import available_interpreters
from catdeploy.check.verify import verify_models
from catdeploy.errors import UserError
from catdeploy.integer import integer_logits, prepare_inputs
from catdeploy.quant.simulate import simulate_batches
from tests.capture.edge_models import seeded
from tests.capture.user_op_models import TinyHardWrittenOut, TinyLeaky, TinyResNetD, timm_models

torch.set_num_threads(1)
MODELS = {"leaky": TinyLeaky, "resnetd": TinyResNetD, "hard": TinyHardWrittenOut, **timm_models()}
SHAPES = {"resnetd": (3, 15, 15)}
SETTINGS = (("w8a8", False), ("w4a4", False), ("w2a2", False), ("w4a4", True))


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(3)
    out = []
    for name, cls in MODELS.items():
        shape = SHAPES.get(name, (3, 16, 16))
        calib = rng.normal(size=(32, *shape)).astype(np.float32)
        x = (rng.normal(size=(8, *shape)) * 1.3).astype(np.float32)
        graph = capture(seeded(cls()), (1, *shape))
        for bits, strict in SETTINGS:
            qg = api.calibrate(graph, api.plan(graph, bits, strict=strict), calib)
            program = api.lower(qg)
            model = api.export_tflite(program)
            out.append(((name, bits, strict), qg, program, model, x))
    return out


def test_every_tensor_bit_exact_in_every_interpreter(cases):
    interps = available_interpreters()
    assert interps, "no TFLite interpreter installed"
    reports = verify_models([(c[3], prepare_inputs(c[3], c[4])) for c in cases], interps, ["ref"])
    failures = []
    for case, runs in zip(cases, reports):
        assert len(runs) == len(interps)
        for r in runs:
            assert r.tensors_compared >= len(case[2].ops), (case[0], r.to_dict())
            if not r.bit_exact:
                failures.append((case[0], r.interpreter, r.mismatched_elements, r.error, r.first_mismatch))
    assert failures == []


def test_leaky_relu_and_prelu_under_the_optimized_and_xnnpack_profiles(cases):
    """LEAKY_RELU is delegated to XNNPACK by TF 2.19 and LiteRT 2.1.0 (builtin / auto): catrt's
    profiles reproduce those runs and the built-in ones bit for bit on a real export."""
    interps = available_interpreters()
    chosen = [c for c in cases if c[0] == ("leaky", "w4a4", False)]
    reports = verify_models([(c[3], prepare_inputs(c[3], c[4])) for c in chosen], interps,
                            ["ref", "builtin", "nodelegate", "auto"])
    runs = [r for runs in reports for r in runs]
    assert len(runs) == 4 * len(interps)
    assert [(r.interpreter, r.resolver, r.mismatched_elements, r.error) for r in runs if not r.bit_exact] == []


def test_ops_used(cases):
    kinds = {name[0]: set() for name, *_ in cases}
    for name, qg, program, model, x in cases:
        kinds[name[0]].update(op.kind for op in program.ops)
    assert {"LEAKY_RELU", "PRELU", "MAXIMUM", "MINIMUM"} <= kinds["leaky"]
    assert {"AVERAGE_POOL_2D", "PAD"} <= kinds["resnetd"]
    assert {"HARD_SWISH", "MUL", "ADD"} <= kinds["hard"]
    if "tf_same" in kinds:
        assert {"HARD_SWISH", "MAX_POOL_2D", "AVERAGE_POOL_2D", "PAD"} <= kinds["tf_same"]


def test_leaky_relu_options_and_prelu_slopes(cases):
    name, qg, program, model, x = next(c for c in cases if c[0] == ("leaky", "w8a8", False))
    alphas = [op.options["alpha"] for op in program.ops if op.kind == "LEAKY_RELU"]
    prelu1 = float(qg.graph.node("prelu1").attrs["negative_slope"])       # PReLU(1), seeded
    assert alphas == [float(np.float32(0.1)), float(np.float32(0.2)), prelu1]
    (prelu,) = [op for op in program.ops if op.kind == "PRELU"]
    alpha = program.tensors[prelu.inputs[1]]
    assert alpha.shape == (1, 1, 1, 8) and alpha.zero_point == (0,) and np.abs(alpha.data).max() == 127


def test_average_down_pools_are_same_or_pad_then_valid(cases):
    """The 2x2 / stride 2 ceil_mode, count_include_pad=False pool on the odd 15 x 15 map is TFLite
    SAME (its last window counts one row / column); a padded ceil-mode pool counting the padding is
    PAD + a pool over the padded map; the one not counting it is SAME."""
    name, qg, program, model, x = next(c for c in cases if c[0] == ("resnetd", "w8a8", False))
    pools = {op.name: op for op in program.ops if op.kind == "AVERAGE_POOL_2D"}
    assert pools["block.down.0"].options["padding"] == "SAME"
    assert pools["pool_without_pad"].options["padding"] == "SAME"
    assert pools["pool_with_pad"].options["padding"] == "VALID"
    assert pools["side.1"].options["padding"] == "SAME"          # 16-wide padded map, last window 2 cells
    pads = {op.name for op in program.ops if op.kind == "PAD"}
    assert {"pool_with_pad", "side.1"} <= pads


def test_training_mode_forward_equals_the_integer_graph(cases):
    """Hard codes, no QDrop: LEAKY_RELU / PRELU requantize per branch and ceil-mode / padded average
    pools divide as lowered, so the differentiable forward gives the integer logits exactly; the
    models with HARD_SWISH / hard sigmoid (fixed-point detail only approximated) stay within a few
    steps, as in tests/quant/test_simulator.py."""
    for key, qg, program, model, x in cases:
        step = float(program.tensors[program.outputs[0]].scale[0])
        steps_off = np.abs(integer_logits(qg, x) - simulate_batches(qg, x)) / step
        if key[0] in ("leaky", "resnetd"):
            assert steps_off.max() < 0.5, (key, steps_off.max())
        elif key[2]:
            # strict W4A4: the MUL / ADD inputs are 4 bit too, and one 4-bit step of an SE product
            # that the surrogate rounds the other way moves these logits by tens of 8-bit steps
            # (since the 2-D activation range search gives the gates' products negative levels)
            assert np.mean(steps_off) <= 10 and np.mean(a_argmax_equal(qg, x)) >= 0.75, (key, steps_off.max())
        else:
            assert steps_off.max() <= 6 and np.mean(steps_off > 0.5) <= 0.25, (key, steps_off.max(), np.mean(steps_off > 0.5))


def a_argmax_equal(qg, x) -> np.ndarray:
    """Per image: the integer graph and the training-mode surrogate pick the same class."""
    return np.argmax(integer_logits(qg, x), 1) == np.argmax(simulate_batches(qg, x), 1)


@pytest.mark.parametrize("pool, size", [
    (nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False), 8),  # 5 windows, SAME has 4
    (nn.AvgPool2d(2, 2, padding=1, count_include_pad=False), 6),                   # pads 1 / 1: not SAME
])
def test_average_pools_without_a_tflite_form_are_refused(pool, size):
    graph = capture(nn.Sequential(nn.Conv2d(3, 4, 1), pool), (1, 3, size, size))
    qg = api.calibrate(graph, api.plan(graph, "w8a8"), np.random.default_rng(0).normal(
        size=(4, 3, size, size)).astype(np.float32))
    with pytest.raises(UserError, match="no exact TFLite equivalent"):
        api.lower(qg)


def test_float_lowering_equals_the_captured_graph(cases):
    """`export --bits fp32`: LEAKY_RELU, PRELU (float slopes), clamps as MAXIMUM / MINIMUM and the
    ceil-mode / SAME average pools equal the captured graph's float forward under the
    interpreters' reference kernels and XNNPACK."""
    from catdeploy.check.interpreters import run_tflite
    from catdeploy.ir.execute import run_graph
    from catdeploy.lower.float_program import lower_float

    kinds = set()
    seen = set()
    for (name, bits, strict), qg, program, model, x in cases:
        if name in seen:
            continue
        seen.add(name)
        float_model = api.export_tflite(lower_float(qg.graph))
        kinds |= {op.kind for op in lower_float(qg.graph).ops}
        expected = run_graph(qg.graph, x)
        for interp in available_interpreters():
            for resolver in ("ref", "auto"):
                got = run_tflite(float_model, x, interp, resolver)
                rel = np.abs(got - expected).max() / np.abs(expected).max()
                assert rel <= 1e-5, (name, interp, resolver, rel)
    assert {"LEAKY_RELU", "PRELU", "MAXIMUM", "MINIMUM", "AVERAGE_POOL_2D"} <= kinds
