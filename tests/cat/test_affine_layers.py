"""--affine-layers (catdeploy/cat/affine_layers.py): per-channel closed-form affine folded into
each layer's multipliers and biases, fitted in network order on catrt accumulators."""
import numpy as np
import pytest
from catrt import Interpreter

from catdeploy import api
from catdeploy.cat.affine_layers import A_CAP, calibrate_affine_layers, corrected_layer, fit_channel_affine
from catdeploy.integer import program_bytes
from catdeploy.check.interpreters import available_interpreters
from catdeploy.check.verify import verify_models
from catdeploy.integer import prepare_inputs
from catdeploy.ir.execute import float_logits_function
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet


def test_channel_fit_equals_least_squares_and_respects_mask_and_cap():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(5000, 3))
    t = y * np.array([1.3, 0.7, 9.0]) + np.array([0.2, -0.1, 0.0]) + rng.normal(scale=0.05, size=(5000, 3))
    a, b = fit_channel_affine(y, t, None, strength=1.0)
    for c in range(2):
        (g, off), *_ = np.linalg.lstsq(np.stack([y[:, c], np.ones(len(y))], 1), t[:, c], rcond=None)
        w = 5000 / (5000 + 16.0)
        assert a[c] == pytest.approx(1 + w * (g - 1), rel=1e-9)
        assert b[c] == pytest.approx(w * (t[:, c].mean() - a[c] * y[:, c].mean()), rel=1e-6, abs=1e-9)
    assert a[2] == A_CAP
    mask = y > 0
    a_m, _ = fit_channel_affine(y, t, mask, strength=1.0)
    (g, _), *_ = np.linalg.lstsq(np.stack([y[mask[:, 0], 0], np.ones(mask[:, 0].sum())], 1), t[mask[:, 0], 0], rcond=None)
    assert a_m[0] == pytest.approx(1 + (mask[:, 0].sum() / (mask[:, 0].sum() + 16.0)) * (g - 1), rel=1e-9)
    a0, b0 = fit_channel_affine(y, t, None, strength=0.0)
    assert np.all(a0 == 1.0) and np.all(b0 == 0.0)


def test_corrected_layer_computes_a_times_y_plus_b():
    g = tiny_resnet(0)
    x = np.random.default_rng(0).normal(size=(32, 3, 8, 8)).astype(np.float32)
    qg = api.calibrate(g, api.plan(g, "w4a4"), x)
    a = np.array([1.2, 0.8, 1.0, 1.5])
    b = np.array([0.05, -0.02, 0.0, 0.1])
    fixed = corrected_layer(qg, "block.conv2", a, b)
    accs = []
    for variant in (qg, fixed):
        model = program_bytes(variant)
        rt = Interpreter(model)
        values = rt.initial_values(prepare_inputs(model, x))
        for i in range(rt.num_ops):
            if rt.op_tensors(i)[1][0] in ("block.conv2", "block.conv2/unclipped"):
                acc = rt.accumulators(i, values)
                s_in = np.float64(np.float32(variant.input_qparams("block.conv2").scale))
                s_w = variant.weight_qparams["block.conv2"].scale.astype(np.float32).astype(np.float64)
                accs.append(acc * s_in * s_w)
                break
            rt.evaluate_op(i, values)
    before, after = accs
    bias_lsb = np.float64(np.float32(qg.input_qparams("block.conv2").scale)) * \
        fixed.weight_qparams["block.conv2"].scale.astype(np.float64)
    assert np.max(np.abs(after - (a * before + b)) / bias_lsb) <= 0.5 + 1e-6
    assert fixed.weight_codes["block.conv2"] is qg.weight_codes["block.conv2"]  # zero extra bytes


@pytest.mark.parametrize("graph_fn", [tiny_resnet, tiny_mobilenet])
def test_selected_affine_layers_are_applied_only_on_significant_gains_and_stay_bit_exact(graph_fn):
    g = graph_fn(1)
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(320, 3, 8, 8)) * 1.5).astype(np.float32)
    qg = api.calibrate(g, api.plan(g, "w2a2"), x[:160])
    out = calibrate_affine_layers(qg, float_logits_function(g), [(x[:200], None), (x[200:], None)], seed=0)
    info = out.meta["affine_layers"]
    assert [r["strength"] for r in info["candidates"]] == [0.0, 0.5, 1.0]
    assert info["fit_images"] == 160 and info["held_out_images"] == 160
    if info["applied"]:
        assert info["gain_low"] > 0 and info["heldout_top1"] > info["heldout_top1_none"]
    else:
        assert info["strength"] == 0.0 and info["reason"].startswith("none")
    assert len(api.lower(out).ops) == len(api.lower(qg).ops)
    model = program_bytes(out)
    runs = verify_models([(model, prepare_inputs(model, x[:32]))], available_interpreters(), ["ref"])[0]
    assert all(r.bit_exact for r in runs), [r.to_dict() for r in runs]
