"""catrt.Interpreter: inputs/outputs, details, graph checks, batch resizing, profiles, speed."""
from __future__ import annotations

import time

import numpy as np
import pytest

import catrt
from catrt import CatrtError
from catrt.profiles import PROFILES, REF_LITERT21, REF_TF219, REF_TFLITE214, get_profile, profile_for
from ._runtime_cases import build_chain
from ._runtime_resnet import build_resnet18
from ._tiny_models import TinyModel, add_options, fc_options, reshape_options


@pytest.fixture(scope="module")
def chain():
    return build_chain(5)


def test_details(chain):
    interp = catrt.Interpreter(chain.model)
    (inp,) = interp.get_input_details()
    assert (inp.name, inp.shape, inp.dtype, inp.scale) == ("input", (2, 8, 8, 3), "float32", ())
    outs = interp.get_output_details()
    assert [(d.name, d.dtype) for d in outs] == [("logits", "float32"), ("class", "int32")]
    by_name = {d.name: d for d in interp.get_tensor_details()}
    assert by_name["conv/out"].zero_point == (-128,)
    assert by_name["conv/out"].scale == (float(np.float32(0.05)),)
    assert len(by_name["conv/w"].scale) == 6
    assert interp.input_details == interp.get_input_details()
    assert "profile='ref-tflite214'" in repr(interp)


def test_input_forms_agree(chain):
    interp = catrt.Interpreter(chain.model)
    x = chain.inputs[0]
    a = interp.run({"input": x})
    b = interp.run([x])
    c = interp.run(x)
    assert list(a) == ["logits", "class"]
    for key in a:
        assert np.array_equal(a[key], b[key]) and np.array_equal(a[key], c[key])
    assert a["class"].dtype == np.int32 and a["class"].shape == (2,)


def test_keep_all_returns_every_tensor(chain):
    interp = catrt.Interpreter(chain.model)
    every = interp.run([chain.inputs[0]], keep_all=True)
    assert set(every) == {t.name for t in interp.model.tensors}
    assert every["conv/out"].dtype == np.int8 and every["conv/out"].shape == (2, 8, 8, 6)
    assert np.array_equal(every["conv/w"], interp.model.tensors[2].data)
    assert np.array_equal(every["logits"], interp.run([chain.inputs[0]])["logits"])


def test_run_does_not_modify_inputs_or_constants(chain):
    interp = catrt.Interpreter(chain.model)
    x = chain.inputs[0].copy()
    out = interp.run([x], keep_all=True)
    out["conv/w"][...] = 0
    assert np.array_equal(x, chain.inputs[0])
    assert np.any(interp.run([x], keep_all=True)["conv/w"] != 0)


@pytest.mark.parametrize("bad, message", [
    ({"nope": np.zeros((2, 8, 8, 3), np.float32)}, "unknown input"),
    ({}, "missing inputs"),
    ([], "got 0 inputs"),
    ([np.zeros((2, 8, 8, 3), np.float64)], "dtype float64"),
    ([np.zeros((2, 8, 3, 8), np.float32)], "shape"),
    ([np.zeros((0, 8, 8, 3), np.float32)], "empty batch"),
])
def test_bad_inputs(chain, bad, message):
    with pytest.raises(CatrtError, match=message):
        catrt.Interpreter(chain.model).run(bad)


def test_integer_inputs_are_range_checked():
    m = TinyModel()
    a = m.tensor("a", [1, 2], "int8", [0.5], [0])
    b = m.tensor("b", [1, 2], "int8", [0.5], [0])
    y = m.tensor("y", [1, 2], "int8", [1.0], [0])
    m.op("ADD", [a, b], [y], add_options())
    m.inputs, m.outputs = [a, b], [y]
    interp = catrt.Interpreter(m.build())
    assert interp.run([np.array([[2, 4]]), np.array([[2, -4]], np.int16)])["y"].tolist() == [[2, 0]]
    with pytest.raises(CatrtError, match="outside the int8 range"):
        interp.run([np.array([[200, 0]]), np.zeros((1, 2), np.int8)])


def test_graph_order_and_unsupported_ops_are_rejected():
    m = TinyModel()
    a = m.tensor("a", [1, 2], "int8", [0.5], [0])
    h = m.tensor("h", [1, 2], "int8", [0.5], [0])
    y = m.tensor("y", [1, 2], "int8", [1.0], [0])
    m.op("ADD", [h, a], [y], add_options())     # reads h before it is written
    m.op("ADD", [a, a], [h], add_options())
    m.inputs, m.outputs = [a], [y]
    with pytest.raises(CatrtError, match="read before"):
        catrt.Interpreter(m.build())
    m = TinyModel()
    a = m.tensor("a", [1, 4], "int8", [0.5], [0])
    y = m.tensor("y", [1, 4], "int8", [1 / 256], [-128])
    m.op("SOFTMAX", [a], [y])
    m.inputs, m.outputs = [a], [y]
    with pytest.raises(CatrtError, match="op #0 SOFTMAX: unsupported"):
        catrt.Interpreter(m.build())


def test_prepare_errors_name_the_op():
    m = TinyModel()
    a = m.tensor("a", [1, 2], "int8", [0.5], [0])
    b = m.tensor("b", [1, 2], "int8", [0.5], [0])
    y = m.tensor("y", [1, 2], "int8", [1e-9], [0])   # output multiplier >= 1: TFLite aborts
    m.op("ADD", [a, b], [y], add_options())
    m.inputs, m.outputs = [a, b], [y]
    with pytest.raises(CatrtError, match="op #0 ADD"):
        catrt.Interpreter(m.build())


def test_batch_differs_from_file(chain):
    """A batch of 5 through a batch-2 file (RESHAPE [2, 6] included) equals per-sample runs."""
    interp = catrt.Interpreter(chain.model)
    x = np.random.default_rng(9).normal(0, 1, size=(5, 8, 8, 3)).astype(np.float32)
    batched = interp.run([x], keep_all=True)
    assert batched["flatten"].shape == (5, 6)
    for i in range(5):
        single = interp.run([x[i:i + 1]])
        assert np.array_equal(single["logits"], batched["logits"][i:i + 1])
        assert np.array_equal(single["class"], batched["class"][i:i + 1])


def test_reshape_shape_mismatch_in_file_is_an_error():
    m = TinyModel()
    a = m.tensor("a", [2, 6], "int8", [0.5], [0])
    y = m.tensor("y", [5, 2], "int8", [0.5], [0])
    m.op("RESHAPE", [a], [y], reshape_options([5, 2]))
    m.inputs, m.outputs = [a], [y]
    with pytest.raises(CatrtError, match="cannot reshape 12 elements"):
        catrt.Interpreter(m.build())


def test_fc_keep_num_dims_refused_only_for_tflite214():
    m = TinyModel()
    x = m.tensor("x", [2, 3, 4], "int8", [0.1], [0])
    w = m.tensor("w", [2, 4], "int8", [0.1, 0.2], [0, 0], 0, np.ones((2, 4)))
    y = m.tensor("y", [2, 3, 2], "int8", [0.5], [0])
    m.op("FULLY_CONNECTED", [x, w, -1], [y], fc_options(keep_num_dims=True), version=5)
    m.inputs, m.outputs = [x], [y]
    model = m.build()
    with pytest.raises(CatrtError, match="keep_num_dims"):
        catrt.Interpreter(model, "ref-tflite214")
    out = catrt.Interpreter(model, "ref-tf219").run([np.full((2, 3, 4), 10, np.int8)])["y"]
    assert out.shape == (2, 3, 2) and out[0, 0].tolist() == [1, 2]   # 40 * 0.02, 40 * 0.04


def test_profiles():
    assert {"ref-tflite214", "ref-tf219", "ref-litert21"} <= set(PROFILES)
    assert all(get_profile(name) is p for name, p in PROFILES.items())
    assert profile_for("tflite_runtime", "BUILTIN_REF") is REF_TFLITE214
    assert profile_for("tflite-runtime", "builtin_ref") is REF_TFLITE214
    assert profile_for("tensorflow", "BUILTIN_REF") is REF_TF219
    assert profile_for("ai_edge_litert", "BUILTIN_REF") is REF_LITERT21
    assert REF_LITERT21.fully_connected_requant == "float64_rha"
    assert REF_TF219.fully_connected_requant == "dr_away"

    class FakeEnum:
        name = "BUILTIN_REF"
    assert profile_for("litert", FakeEnum()) is REF_LITERT21
    assert profile_for("tensorflow", "BUILTIN", arch="x86_64").name == "builtin-tf219-x86"
    assert profile_for("litert", "nodelegate", "2.1.0", "x86_64").name == "nodelegate-litert21-x86"
    assert profile_for("tflite-runtime", "AUTO", arch="amd64").name == "auto-tflite214-x86"
    assert profile_for("tensorflow", "BUILTIN_REF", arch="aarch64") is REF_TF219
    with pytest.raises(CatrtError, match="no arithmetic profile yet"):
        profile_for("tensorflow", "BUILTIN", arch="aarch64")
    with pytest.raises(CatrtError, match="no arithmetic profile yet"):
        profile_for("tensorflow", "BUILTIN_REF", version="2.20.0")
    with pytest.raises(CatrtError, match="unknown interpreter"):
        profile_for("onnxruntime", "BUILTIN_REF")
    with pytest.raises(CatrtError, match="unknown profile"):
        catrt.Interpreter(b"", profile="ref-tflite999")
    with pytest.raises(CatrtError):
        catrt.profiles.Profile(name="x", interpreter="t", interpreter_version="0",
                               resolver="R", conv_rounding="nearest")


def test_resnet18_batch_consistency():
    interp = catrt.Interpreter(build_resnet18(batch=1, size=16, seed=3))
    x = np.random.default_rng(3).integers(-128, 128, size=(3, 16, 16, 3)).astype(np.int8)
    batched = interp.run([x])["logits"]
    for i in range(3):
        assert np.array_equal(interp.run([x[i:i + 1]])["logits"], batched[i:i + 1])


@pytest.mark.slow
def test_resnet18_cifar_batch32_speed():
    """ResNet-18 (CIFAR layout, 32x32) with batch 32 must run in well under a minute."""
    interp = catrt.Interpreter(build_resnet18(batch=1, size=32))
    x = np.random.default_rng(0).integers(-128, 128, size=(32, 32, 32, 3)).astype(np.int8)
    start = time.perf_counter()
    out = interp.run([x])["logits"]
    elapsed = time.perf_counter() - start
    assert out.shape == (32, 10)
    assert elapsed < 60, f"{elapsed:.1f} s"
