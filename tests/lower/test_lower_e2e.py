"""Plan -> RTN calibrate -> lower -> write -> catrt vs every installed TFLite interpreter (BUILTIN_REF).

Hand-built graphs cover residual adds, requantized copies, explicit lower clips, explicit PAD,
depthwise convs, pooling and FC at every bit setting; every tensor must match exactly.
"""
import numpy as np
import pytest

from catdeploy import api
from catrt import CatrtError
from catdeploy.check.interpreters import available_interpreters
from catdeploy.quant.qparams import BIT_SETTINGS
from catdeploy.check.verify import verify_models
from catdeploy.lower.options import LoweringOptions
from catdeploy.integer import prepare_inputs, run_catrt
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet

GRAPHS = {"tiny_resnet": tiny_resnet, "tiny_mobilenet": tiny_mobilenet}


def _export(graph_fn, bits, strict=False, io="int8", seed=0):
    g = graph_fn(seed)
    rng = np.random.default_rng(seed)
    qg = api.calibrate(g, api.plan(g, bits, strict=strict), rng.normal(size=(64, 3, 8, 8)).astype(np.float32))
    program = api.lower(qg, LoweringOptions(io=io))
    return qg, program, api.export_tflite(program)


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 3, 8, 8)).astype(np.float32) * 1.5
    out = []
    for gname, fn in GRAPHS.items():
        for bits in BIT_SETTINGS:
            for strict in (False, True):
                qg, program, model = _export(fn, bits, strict)
                out.append(((gname, bits, strict), qg, program, model, prepare_inputs(model, x)))
    return out


def test_every_tensor_bit_exact_in_every_interpreter(cases):
    interps = available_interpreters()
    assert interps, "no TFLite interpreter installed"
    reports = verify_models([(c[3], c[4]) for c in cases], interps, ["ref"])
    failures = []
    for case, runs in zip(cases, reports):
        for r in runs:
            assert r.tensors_compared >= len([op for op in case[2].ops]) , (case[0], r.to_dict())
            if not r.bit_exact:
                failures.append((case[0], r.interpreter, r.mismatched_elements, r.error, r.first_mismatch))
    assert failures == []


def test_activation_tensors_stay_on_their_grid(cases):
    """Every planned tensor takes values only in [offset(b), 127]: at most 2^b distinct values."""
    from catrt import Interpreter

    for name, qg, program, model, inputs in cases:
        values = Interpreter(model).run([inputs], keep_all=True)
        for t in program.tensors.values():
            if t.data is not None or t.dtype != "int8" or t.bits is None:
                continue
            v = values[t.name]
            assert v.min() >= 128 - (1 << t.bits), (name, t.name, t.bits, v.min())
            assert len(np.unique(v)) <= (1 << t.bits), (name, t.name)


def test_weights_hold_at_most_2_to_the_b_values_per_channel(cases):
    for name, qg, program, model, inputs in cases:
        for t in program.tensors.values():
            if t.data is None or t.dtype != "int8" or t.data.ndim < 2:
                continue
            axis = t.quantized_dimension
            per_channel = np.moveaxis(t.data, axis, 0).reshape(t.data.shape[axis], -1)
            assert max(len(np.unique(r)) for r in per_channel) <= (1 << t.bits), (name, t.name)
            assert all(z == 0 for z in t.zero_point)


def test_extra_clamps_counted_and_only_where_needed(cases):
    for (gname, bits, strict), qg, program, model, inputs in cases:
        n_max = sum(1 for op in program.ops if op.kind == "MAXIMUM")
        assert int(program.metadata["catdeploy.extra_clamp_ops"]) == n_max
        if bits == "w8a8":
            assert n_max == 0
    # the mobilenet projection (no ReLU) read by a conv at 2 bits needs an explicit lower clip
    w4a2 = next(c for c in cases if c[0] == ("tiny_mobilenet", "w4a2", False))
    assert int(w4a2[2].metadata["catdeploy.extra_clamp_ops"]) >= 1


def test_byte_identical_exports():
    _, _, a = _export(tiny_resnet, "w2a4")
    _, _, b = _export(tiny_resnet, "w2a4")
    assert a == b


def test_float_io_adds_quantize_and_dequantize_only_at_the_edges():
    from catrt import Interpreter

    qg, program, model = _export(tiny_mobilenet, "w4a4", io="float")
    kinds = [op.kind for op in program.ops]
    assert kinds[0] == "QUANTIZE" and kinds[-1] == "DEQUANTIZE"
    float_tensors = {t.name for t in program.tensors.values() if t.dtype == "float32"}
    assert float_tensors == {program.inputs[0], program.outputs[0]}
    _, _, model_int8 = _export(tiny_mobilenet, "w4a4")
    x = np.random.default_rng(3).normal(size=(5, 3, 8, 8)).astype(np.float32)
    y_float = Interpreter(model).run([np.transpose(x, (0, 2, 3, 1)).copy()])
    y_int = Interpreter(model_int8).run([prepare_inputs(model_int8, x)])
    out_q = program.tensors[program.outputs[0]]
    logits_int = list(y_int.values())[0].astype(np.float32)
    t_int = [t for t in program.tensors.values() if t.name == "fc"][0]
    expect = (logits_int - t_int.zero_point[0]) * np.float32(t_int.scale[0])
    np.testing.assert_array_equal(list(y_float.values())[0], expect)
    assert out_q.dtype == "float32"


def test_fake_quant_tracks_integer_logits():
    from catdeploy.quant.simulate import simulate

    qg, program, model = _export(tiny_resnet, "w8a8")
    x = np.random.default_rng(4).normal(size=(32, 3, 8, 8)).astype(np.float32)
    logits_int = run_catrt(model, x)
    out = program.tensors[program.outputs[0]]
    deq = (logits_int.astype(np.float32) - out.zero_point[0]) * out.scale[0]
    fq = simulate(qg, x)
    # 8-bit everywhere: integer and fake-quant logits differ by a few output steps at most
    assert np.max(np.abs(deq - fq)) <= 4 * out.scale[0]


def _packed_matches_int8_containers(plain: bytes, packed: bytes, rng) -> np.ndarray:
    """Inputs on which the packed file and the int8-container file give identical outputs under
    ai-edge-litert's reference profile (which registers every packed op version)."""
    from catrt import Interpreter

    x = prepare_inputs(plain, rng.normal(size=(8, 3, 8, 8)).astype(np.float32))
    a = Interpreter(plain, "ref-litert21").run([x])
    b = Interpreter(packed, "ref-litert21").run([x])
    assert all(np.array_equal(a[k], b[k]) for k in a)
    return x


def test_int4_packed_weights_compute_the_same_as_int8_containers():
    from catdeploy.check.verify import verify_model

    g = tiny_resnet(0)
    rng = np.random.default_rng(0)
    qg = api.calibrate(g, api.plan(g, "w4a4", symmetric_weights=True), rng.normal(size=(64, 3, 8, 8)).astype(np.float32))
    packed = api.export_tflite(api.lower(qg, LoweringOptions(int4_weights=True)))
    plain = api.export_tflite(api.lower(qg))
    assert len(packed) < len(plain)
    program = api.lower(qg, LoweringOptions(int4_weights=True))
    assert {t.name for t in program.tensors.values() if t.dtype == "int4"} == {"block.conv1/weight", "block.conv2/weight"}
    from catrt import Interpreter

    x = _packed_matches_int8_containers(plain, packed, rng)
    # tflite-runtime 2.14's reference resolver does not register CONV_2D v7: catrt refuses too.
    with pytest.raises(CatrtError, match="CONV_2D version 7 is not registered in ref-tflite214"):
        Interpreter(packed, "ref-tflite214")
    reports = verify_model(packed, x, ["litert"], ["ref"])
    assert reports[0].bit_exact, reports[0].to_dict()


def test_int2_fc_weights_compute_the_same_as_int8_containers():
    """--int2-weights packs the 2-bit FC weights of a strict W2A2 plan as INT2 (FC v14): the same
    outputs as int8 containers, bit-exact on every ai-edge-litert resolver (XNNPACK leaves the node
    to the built-in kernel), refused by tflite-runtime 2.14 and by catrt's profile for it."""
    from catdeploy.check.verify import verify_model
    from catrt import Interpreter

    g = tiny_resnet(0)
    rng = np.random.default_rng(0)
    qg = api.calibrate(g, api.plan(g, "w2a2", symmetric_weights=True, strict=True),
                       rng.normal(size=(64, 3, 8, 8)).astype(np.float32))
    program = api.lower(qg, LoweringOptions(int2_weights=True))
    assert {t.name for t in program.tensors.values() if t.dtype == "int2"} == {"fc/weight"}
    packed, plain = api.export_tflite(program), api.export_tflite(api.lower(qg))
    x = _packed_matches_int8_containers(plain, packed, rng)
    with pytest.raises(CatrtError, match="does not run INT2 weights"):
        Interpreter(packed, "ref-tflite214")
    installed = [i for i in ("litert", "tflite-runtime") if i in available_interpreters()]
    if "litert" not in installed:
        pytest.skip("ai-edge-litert not installed")
    reports = verify_model(packed, x, installed, ["ref", "builtin", "nodelegate", "auto"])
    for r in reports:
        if r.interpreter == "litert":
            assert r.bit_exact, r.to_dict()
        else:
            assert r.refused_by_both and "version '14'" in r.error, r.to_dict()
