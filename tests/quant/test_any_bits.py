"""Any wXaY with X, Y in 2..8 (w3a3 from the PTQ tables, w4a8 as AI Edge Quantizer users know it):
parsed, planned, exported, bit-exact under every interpreter, and never more than 2^b values."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from catrt import Interpreter

from catdeploy import api
from catdeploy.errors import UserError
from catdeploy.check.interpreters import available_interpreters
from catdeploy.quant.plan import parse_bits
from catdeploy.check.verify import verify_model
from catdeploy.integer import prepare_inputs
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet

torch.set_num_threads(1)


@pytest.mark.parametrize("text,want", [("w3a3", (3, 3)), ("W4A8", (4, 8)), (" w8a2 ", (8, 2)), ("w2a4", (2, 4)),
                                       ("w5a7", (5, 7))])
def test_parse_bits_takes_every_width_from_2_to_8(text, want):
    assert parse_bits(text) == want


@pytest.mark.parametrize("text", ["w1a4", "w9a8", "w4", "a4w4", "w4a4a4", "int4", "", "w16a8"])
def test_parse_bits_refuses_others_in_one_line(text):
    with pytest.raises(UserError) as err:
        parse_bits(text)
    assert "\n" not in str(err.value) and "2..8" in str(err.value)


@pytest.mark.parametrize("bits", ["w3a3", "w4a8", "w3a5", "w6a3"])
@pytest.mark.parametrize("make", [tiny_resnet, tiny_mobilenet], ids=["resnet", "mobilenet"])
def test_odd_widths_export_bit_exact_and_hold_their_levels(make, bits):
    graph = make(0)
    rng = np.random.default_rng(7)
    qg = api.calibrate(graph, api.plan(graph, bits), rng.normal(size=(32, 3, 8, 8)).astype(np.float32))
    w_bits, a_bits = parse_bits(bits)
    for name, codes in qg.weight_codes.items():
        levels = max(len(np.unique(c)) for c in codes.reshape(len(codes), -1))
        assert levels <= 2 ** qg.plan.weights[name], name
    assert max(qg.plan.weights.values()) >= w_bits  # the planned width reaches the layers it names
    model = api.export_tflite(api.lower(qg))
    x = (rng.normal(size=(16, 3, 8, 8)) * 1.2).astype(np.float32)
    inputs = prepare_inputs(model, x)
    reports = verify_model(model, inputs, available_interpreters(), ["ref"])
    assert reports and all(r.bit_exact and r.mismatched_elements == 0 for r in reports), \
        [(r.interpreter, r.mismatched_elements, r.error) for r in reports]
    values = Interpreter(model).run([inputs], keep_all=True)
    planned = {**qg.plan.values, **{k: v[1] for k, v in qg.plan.requants.items()}}
    at_width = [n for n, b in planned.items() if b == a_bits and n in values]
    assert at_width, "no tensor at the activation width"
    for name in at_width:
        assert len(np.unique(values[name])) <= 2 ** a_bits, name
