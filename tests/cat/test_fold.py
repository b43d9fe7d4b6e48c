"""CAT folded into the integer graph (lower/ops/cat_head.py): one shared weight buffer, the fold
reproduces float-applied CAT within one output LSB, every tensor bit-exact in every interpreter."""
from dataclasses import replace

import numpy as np
import pytest
from catrt import Interpreter
from catrt.reader import read_model

from catdeploy import api
from catdeploy.cat.fit import CatParams, fit_cat
from catdeploy.integer import catrt_tensors as integer_tensors
from catdeploy.integer import classifier_bytes, dequantize, output_qparams, program_bytes
from catdeploy.cat.select import with_cat
from catdeploy.check.interpreters import available_interpreters
from catdeploy.check.verify import verify_models
from catdeploy.integer import prepare_inputs
from catdeploy.ir.execute import float_logits_function
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet


def _base(graph_fn, bits="w2a2", seed=0):
    g = graph_fn(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, 3, 8, 8)).astype(np.float32) * 1.5
    return api.calibrate(g, api.plan(g, bits), x[:64]), x


@pytest.fixture(scope="module")
def heads():
    """(name, qg with CAT, images, base integer logits) for K = 4 and K = 1 on two tiny graphs."""
    out = []
    for fn in (tiny_resnet, tiny_mobilenet):
        qg, x = _base(fn)
        model = program_bytes(qg)
        out_name = qg.graph.outputs[0]
        q = dequantize(integer_tensors(model, x, [out_name])[out_name], *output_qparams(model))
        f = float_logits_function(qg.graph)(x)
        for k in (4, 1):
            params = fit_cat(q, f, clusters=k, alpha=0.6, pca=2 if k > 1 else None, seed=0)
            out.append((f"{fn.__name__}-K{k}", with_cat(qg, params, q, "fc"), x, q))
    return out


def _fc_real_output(qg, features):
    """Exact real output of the classifier before output rounding: s_x s_w (acc + bias)."""
    node = "fc"
    xq = qg.act_qparams[qg.plan.node_inputs[node][0]]
    acc = (features.astype(np.int64) - xq.tflite_zero_point) @ qg.weight_codes[node].astype(np.int64).T
    acc += qg.bias_codes[node].astype(np.int64)
    s_w = qg.weight_qparams[node].scale.astype(np.float32).astype(np.float64)
    return acc * np.float64(np.float32(xq.scale)) * s_w


def test_fold_reproduces_float_applied_cat_within_one_output_lsb(heads):
    for name, qg, x, _ in heads:
        model = api.export_tflite(api.lower(qg))
        x_name = qg.plan.node_inputs["fc"][0]
        out_t = Interpreter(model).get_output_details()[0].name
        wanted = [x_name, out_t] + (["fc/cat_cluster"] if qg.cat["clusters"] > 1 else [])
        vals = integer_tensors(model, x, wanted)
        k = vals["fc/cat_cluster"] if qg.cat["clusters"] > 1 else np.zeros(len(x), np.int64)
        params = CatParams.from_archive(qg.cat, qg.cat)
        a, b = params.scale_and_offset()
        expected = a[k] * _fc_real_output(qg, vals[x_name]) + b[k]
        scale, zp = output_qparams(model)
        got = dequantize(vals[out_t], scale, zp)
        inside = (expected > (-128 - zp) * scale) & (expected < (127 - zp) * scale)
        assert inside.mean() > 0.95, name
        assert np.max(np.abs(got - expected)[inside]) <= scale * 1.0 + 1e-9, name


def test_heads_share_one_weight_buffer_with_different_scales(heads):
    for name, qg, _, _ in heads:
        model = read_model(api.export_tflite(api.lower(qg)))
        head_w = [t for t in model.tensors if t.name.startswith("fc/cat_head") and t.name.endswith("/weight")]
        k = qg.cat["clusters"]
        assert len(head_w) == k, name
        if k > 1:
            base_w = next(t for t in model.tensors if t.name == "fc/weight")
            assert {t.buffer for t in head_w} == {base_w.buffer}, name
            assert len({t.quantization.scale for t in head_w}) == k, name


def test_int4_weights_leave_the_shared_head_weights_int8_and_stay_bit_exact():
    """--int4-weights with a K > 1 CAT head on a strict W2A2 model (the classifier at 2 bits too):
    the classifier weight that the heads share stays an int8 buffer (it used to be packed beside
    int8 heads: "share buffer_key but hold different data"), the other layers are packed, and
    under the built-in kernels (which unpack INT4 and run the int8 arithmetic; XNNPACK would take
    only the int8 file's convolutions) every output equals the int8 export's."""
    from catdeploy.lower.options import LoweringOptions

    for fn in (tiny_resnet, tiny_mobilenet):
        g = fn(0)
        x = np.random.default_rng(0).normal(size=(128, 3, 8, 8)).astype(np.float32) * 1.5
        qg = api.calibrate(g, api.plan(g, "w2a2", symmetric_weights=True, strict=True), x[:64])
        model = program_bytes(qg)
        out_name = qg.graph.outputs[0]
        q = dequantize(integer_tensors(model, x, [out_name])[out_name], *output_qparams(model))
        params = fit_cat(q, float_logits_function(g)(x), clusters=4, alpha=0.6, pca=2, seed=0)
        qg = with_cat(qg, params, q, "fc")
        plain = api.export_tflite(api.lower(qg))
        packed = api.export_tflite(api.lower(qg, LoweringOptions(int4_weights=True)))
        types = {t.name: t.dtype for t in read_model(packed).tensors}
        assert types["fc/weight"] == "int8", fn.__name__
        assert "int4" in types.values(), fn.__name__
        inputs = prepare_inputs(plain, x[:16])
        profile = "nodelegate-litert21-x86"
        got, want = Interpreter(packed, profile).run([inputs]), Interpreter(plain, profile).run([inputs])
        assert all(np.array_equal(got[k], want[k]) for k in want), fn.__name__


def test_k1_adds_no_op_and_k_clusters_add_the_stock_head(heads):
    for name, qg, _, _ in heads:
        base_ops = len(api.lower(replace(qg, cat=None)).ops)
        ops = api.lower(qg).ops
        k = qg.cat["clusters"]
        extra = [op.kind for op in ops[base_ops - 1:]]
        if k == 1:
            assert len(ops) == base_ops, name
        else:
            # CAST, widening 16x8 FC, 16x8 assignment FC, CAST, ARG_MAX, K heads, CONCAT, RESHAPE, GATHER
            assert len(ops) == base_ops + k + 8, name
            assert extra == (["FULLY_CONNECTED", "CAST", "FULLY_CONNECTED", "FULLY_CONNECTED", "CAST", "ARG_MAX"]
                             + ["FULLY_CONNECTED"] * k + ["CONCATENATION", "RESHAPE", "GATHER"]), name
            program = api.lower(qg)
            scores = program.tensors["fc/cat_scores"]
            assert (scores.dtype, scores.zero_point) == ("int16", (0,)), name
            assert program.tensors["fc/cat_assign/bias"].dtype == "int64", name


def test_every_tensor_of_the_head_is_bit_exact_in_every_interpreter(heads):
    interps = available_interpreters()
    assert interps
    cases = []
    for _, qg, x, _ in heads:
        model = api.export_tflite(api.lower(qg))
        cases.append((model, prepare_inputs(model, x[:48])))
    failures = []
    for (name, *_), runs in zip(heads, verify_models(cases, interps, ["ref"])):
        for r in runs:
            assert "fc/cat" in r.per_tensor, (name, sorted(r.per_tensor))  # the head output was compared
            if "K4" in name:
                assert {"fc/cat_cluster", "fc/cat_scores", "fc/cat_logits_wide", "fc/cat_heads"} <= set(r.per_tensor), name
            if not r.bit_exact:
                failures.append((name, r.interpreter, r.mismatched_elements, r.error))
    assert failures == []


def test_head_is_bit_exact_under_the_optimized_and_xnnpack_resolvers(heads):
    """BUILTIN / AUTO (default XNNPACK delegate) and BUILTIN_WITHOUT_DEFAULT_DELEGATES: every tensor of
    the 16-bit score path equals catrt's profile of that wheel and resolver."""
    cases = []
    for name, qg, x, _ in heads:
        if qg.cat["clusters"] > 1:
            model = api.export_tflite(api.lower(qg))
            cases.append((name, model, prepare_inputs(model, x[:48])))
    failures = []
    for (name, *_), runs in zip(cases, verify_models([c[1:] for c in cases], available_interpreters(),
                                                     ["builtin", "auto", "nodelegate"])):
        for r in runs:
            assert {"fc/cat_scores", "fc/cat_cluster"} <= set(r.per_tensor), (name, r.resolver, r.error)
            if not r.bit_exact:
                failures.append((name, r.interpreter, r.resolver, r.mismatched_elements, r.error))
    assert failures == []


def test_assignment_weights_carry_two_int8_codes_per_weight():
    from catdeploy.lower.ops.cat_head import SPLIT, assignment_weights, combined_codes

    v = np.random.default_rng(0).normal(size=(8, 10)) * np.array([[1e-3], [1], [5], [1], [1], [1], [1], [0]])
    codes, scale = assignment_weights(v)
    assert codes.shape == (8, 20) and codes.dtype == np.int8
    approx = combined_codes(codes) * (scale.astype(np.float64)[:, None] / SPLIT)
    assert np.all(np.abs(approx - v) <= scale.astype(np.float64)[:, None] / (2 * SPLIT) + 1e-12)


def test_widened_logits_are_exact(heads):
    for name, qg, x, _ in heads:
        if qg.cat["clusters"] == 1:
            continue
        model = api.export_tflite(api.lower(qg))
        vals = integer_tensors(model, x[:64], ["fc", "fc/cat_logits_wide"])
        z = vals["fc"].astype(np.int64)
        assert np.array_equal(vals["fc/cat_logits_wide"], np.concatenate([128 * z, z], axis=1)), name


def test_classifier_program_equals_the_full_program(heads):
    for name, qg, x, _ in heads:
        full = api.export_tflite(api.lower(qg))
        x_name = qg.plan.node_inputs["fc"][0]
        out_t = Interpreter(full).get_output_details()[0].name
        vals = integer_tensors(full, x, [x_name, out_t])
        head = classifier_bytes(qg)
        assert np.array_equal(Interpreter(head).run([vals[x_name]])[Interpreter(head).get_output_details()[0].name],
                              vals[out_t]), name


def test_integer_assignment_agrees_with_float_assignment(heads):
    for name, qg, x, q in heads:
        if qg.cat["clusters"] == 1:
            continue
        model = api.export_tflite(api.lower(qg))
        k_int = integer_tensors(model, x, ["fc/cat_cluster"])["fc/cat_cluster"]
        k_float = CatParams.from_archive(qg.cat, qg.cat).assign(q)
        assert np.mean(k_int == k_float) >= 0.99, name


@pytest.mark.slow
def test_integer_assignment_agrees_on_a_real_calibration_batch():
    """The shipped Fashion-MNIST MnasNet at W2A4, K = 16 fitted on 256 real calibration images: the
    16-bit integer assignment equals the float nearest centroid on >= 99 % of them."""
    from catdeploy.assets import DEFAULT_MODEL_PATH
    from catdeploy.lower import classifier_node
    from catdeploy.pipeline import calibrate_model, calibration_data
    from catdeploy.quant.options import CalibrationOptions

    base = calibrate_model("mnasnet0_5", str(DEFAULT_MODEL_PATH), "fashion-mnist",
                           CalibrationOptions(bits="w2a4", samples=256))
    images, _ = calibration_data("fashion-mnist", 256, 0)
    node = classifier_node(base.graph).name
    model = program_bytes(base)
    q = dequantize(integer_tensors(model, images, [node])[node], *output_qparams(model))
    params = fit_cat(q, float_logits_function(base.graph)(images), clusters=16, alpha=1.0, seed=0)
    assert params.clusters == 16
    k_int = integer_tensors(program_bytes(with_cat(base, params, q, node)), images,
                            [f"{node}/cat_cluster"])[f"{node}/cat_cluster"]
    assert np.mean(k_int == params.assign(q)) >= 0.99


def test_non_positive_scales_are_floored_and_still_bit_exact():
    qg, x = _base(tiny_resnet, "w4a4")
    params = CatParams(alpha=1.0, gamma=np.array([[1.0, -2.0, 0.0, 1.5, 0.5], [0.8, 1.2, 1.0, 1.0, 1.0]]),
                       beta=np.zeros((2, 5)), centroids=np.array([[0, 0, 0, 0, 0], [1.0, 1, 1, 1, 1]]),
                       cluster_sizes=np.array([5, 5]))
    cat_qg = with_cat(qg, params, np.random.default_rng(0).normal(size=(64, 5)), "fc")
    assert cat_qg.cat["floored_channels"] == 2 and cat_qg.cat["negative_scale_handling"] == "floor"
    program = api.lower(cat_qg)
    for t in program.tensors.values():
        if t.name.startswith("fc/cat_head") and t.name.endswith("/weight"):
            assert min(t.scale) > 0
    model = api.export_tflite(program)
    runs = verify_models([(model, prepare_inputs(model, x[:16]))], available_interpreters(), ["ref"])[0]
    assert all(r.bit_exact for r in runs), [r.to_dict() for r in runs]


def test_same_inputs_same_bytes_and_archive_round_trip(heads, tmp_path):
    from catdeploy.quant.quantized_graph import load_quantized_graph, save_quantized_graph

    name, qg, _, _ = heads[0]
    a = api.export_tflite(api.lower(qg))
    assert a == api.export_tflite(api.lower(qg))
    save_quantized_graph(qg, tmp_path / "m.qg")
    save_quantized_graph(load_quantized_graph(tmp_path / "m.qg"), tmp_path / "again.qg")
    assert (tmp_path / "m.qg").read_bytes() == (tmp_path / "again.qg").read_bytes()
    assert api.export_tflite(api.lower(load_quantized_graph(tmp_path / "m.qg"))) == a
