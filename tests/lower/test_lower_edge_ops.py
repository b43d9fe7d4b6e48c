"""The edge-architecture ops end to end on tiny captured models: plan -> RTN calibrate -> lower ->
write -> catrt vs every installed TFLite interpreter (BUILTIN_REF), every tensor bit for bit, and
every planned tensor on its 2^b-value grid."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from catdeploy import api
from catdeploy.capture import capture
from catdeploy.check.interpreters import available_interpreters
from catdeploy.check.verify import verify_models
from catdeploy.integer import prepare_inputs
from tests.capture.edge_models import TinyEffNet, TinyInception, TinyInceptionV3, TinyMBV3, TinyShuffle, seeded

torch.set_num_threads(1)
MODELS = {"mbv3": TinyMBV3, "effnet": TinyEffNet, "shuffle": TinyShuffle, "inception": TinyInception,
          "inception_v3": TinyInceptionV3}
SETTINGS = (("w8a8", False), ("w4a4", False), ("w2a2", False), ("w4a4", True))


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(3)
    calib = rng.normal(size=(32, 3, 16, 16)).astype(np.float32)
    x = rng.normal(size=(8, 3, 16, 16)).astype(np.float32) * 1.3
    out = []
    for name, cls in MODELS.items():
        graph = capture(seeded(cls()), (1, 3, 16, 16))
        for bits, strict in SETTINGS:
            qg = api.calibrate(graph, api.plan(graph, bits, strict=strict), calib)
            program = api.lower(qg)
            model = api.export_tflite(program)
            out.append(((name, bits, strict), qg, program, model, prepare_inputs(model, x)))
    return out


def test_every_tensor_bit_exact_in_every_interpreter(cases):
    interps = available_interpreters()
    assert interps, "no TFLite interpreter installed"
    reports = verify_models([(c[3], c[4]) for c in cases], interps, ["ref"])
    failures = []
    for case, runs in zip(cases, reports):
        assert len(runs) == len(interps)
        for r in runs:
            assert r.tensors_compared >= len(case[2].ops), (case[0], r.to_dict())
            if not r.bit_exact:
                failures.append((case[0], r.interpreter, r.mismatched_elements, r.error, r.first_mismatch))
    assert failures == []


def test_planned_tensors_stay_on_their_grid(cases):
    from catrt import Interpreter

    for name, qg, program, model, inputs in cases:
        values = Interpreter(model).run([inputs], keep_all=True)
        for t in program.tensors.values():
            if t.data is not None or t.dtype != "int8" or t.bits is None:
                continue
            v = values[t.name]
            assert v.min() >= 128 - (1 << t.bits), (name, t.name, t.bits, v.min())
            assert len(np.unique(v)) <= (1 << t.bits), (name, t.name)


def test_ops_used(cases):
    kinds = {name[0]: set() for name, *_ in cases}
    for name, qg, program, model, inputs in cases:
        kinds[name[0]].update(op.kind for op in program.ops)
    assert {"HARD_SWISH", "MUL", "ADD"} <= kinds["mbv3"]
    assert {"LOGISTIC", "MUL"} <= kinds["effnet"]
    assert {"GATHER", "CONCATENATION", "QUANTIZE", "MAX_POOL_2D"} <= kinds["shuffle"]
    assert {"CONCATENATION", "QUANTIZE", "MAX_POOL_2D"} <= kinds["inception"]
    assert {"PAD", "AVERAGE_POOL_2D", "CONCATENATION"} <= kinds["inception_v3"]


def test_average_pool_counting_padded_zeros_is_pad_then_valid_pool(cases):
    """count_include_pad=True divides by the kernel area: an explicit PAD (zero point) and a VALID
    AVERAGE_POOL_2D, whose int8 output equals the float pool of the padded input within half a step."""
    from catrt import Interpreter

    name, qg, program, model, inputs = next(c for c in cases if c[0] == ("inception_v3", "w8a8", False))
    pools = [op for op in program.ops if op.kind == "AVERAGE_POOL_2D" and op.options["filter_h"] == 3]
    assert len(pools) == 2 and all(op.options["padding"] == "VALID" for op in pools)
    values = Interpreter(model).run([inputs], keep_all=True)
    for op in pools:
        pad = next(p for p in program.ops if p.outputs[0] == op.inputs[0])
        assert pad.kind == "PAD"
        src, out = program.tensors[pad.inputs[0]], program.tensors[op.outputs[0]]
        real = (values[src.name].astype(np.float64) - src.zero_point[0]) * src.scale[0]
        expected = torch.nn.functional.avg_pool2d(torch.from_numpy(real).permute(0, 3, 1, 2), 3, 1, 1,
                                                  count_include_pad=True).permute(0, 2, 3, 1).numpy()
        got = (values[out.name].astype(np.float64) - out.zero_point[0]) * out.scale[0]
        assert np.abs(got - expected).max() <= out.scale[0] * 0.5 + 1e-9, op.name


def test_hardsigmoid_first_mul_is_an_exact_copy(cases):
    from catrt import Interpreter

    name, qg, program, model, inputs = next(c for c in cases if c[0] == ("mbv3", "w4a4", False))
    mul = next(op for op in program.ops if op.kind == "MUL" and op.outputs[0].endswith("/x_sixth"))
    values = Interpreter(model).run([inputs], keep_all=True)
    assert np.array_equal(values[mul.inputs[0]], values[mul.outputs[0]])


def test_integer_logits_follow_the_fake_quant_simulation(cases):
    """The composite lowerings (hardsigmoid as MUL + ADD, SiLU as LOGISTIC + MUL, shuffles and
    slices as GATHER, concat copies) compute the float ops: the integer logits differ from the
    fake-quant simulation only by rounding details."""
    from catrt import Interpreter

    from catdeploy.quant.simulate import simulate_batches

    x = np.random.default_rng(4).normal(size=(8, 3, 16, 16)).astype(np.float32)
    for (name, bits, strict), qg, program, model, _ in cases:
        if bits != "w8a8":
            continue
        out = program.tensors[program.outputs[0]]
        logits_q = Interpreter(model).run([prepare_inputs(model, x)])[program.outputs[0]]
        logits = (logits_q.astype(np.float32) - out.zero_point[0]) * out.scale[0]
        simulated = simulate_batches(qg, x)
        err = np.abs(logits - simulated).max() / np.abs(simulated).max()
        assert err < 0.05, (name, err)
