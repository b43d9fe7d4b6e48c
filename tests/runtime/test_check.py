"""`python -m catrt check` and catrt.golden: the on-device bit-exactness check, run here with the
installed x86_64 wheels on a small model whose outputs differ between profiles (rounding ties in
a DEPTHWISE_CONV_2D with a NEON tail, then an int8 -> int8 QUANTIZE with multiplier 0.25)."""
from __future__ import annotations

import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

from catrt import PROFILES, CatrtError
from catrt.golden import make_golden, npz_bytes, read_golden
from catrt.check import installed
from catdeploy.export.tflite import write_tflite
from catdeploy.ir.int_program import IntOp
from tests.golden.make_golden import GOLDEN_DIR, TIE_MULTIPLIERS, act, dw_case, dyadic_weight_scales, program

INTERPRETERS = installed()


def _model() -> bytes:
    rng = np.random.default_rng(zlib.crc32(b"check"))
    s_in, s_out = 2.0**-4, 2.0**-3
    case = dw_case(rng, x_shape=(1, 5, 5, 12), dm=1, kernel=3, stride=1, padding="SAME", s_in=s_in, z_in=1,
                   s_w=dyadic_weight_scales(s_in, s_out, (TIE_MULTIPLIERS * 2)[:12]), s_out=s_out, z_out=2,
                   w_range=(-2, 2), bias_range=(-30, 30))
    tensors = dict(case.program.tensors)
    tensors["z"] = act("z", (1, 5, 5, 12), 0.5, -3)
    ops = case.program.ops + (IntOp("QUANTIZE", ("y",), ("z",), name="requantize"),)
    return write_tflite(program(list(tensors.values()), list(ops), ["x"], ["z"]))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("check")
    model = _model()
    arrays = make_golden(model, n=6, seed=3)
    (d / "m.tflite").write_bytes(model)
    (d / "m.golden.npz").write_bytes(npz_bytes(arrays))
    return d, model, arrays


def check(*args):
    return subprocess.run([sys.executable, "-m", "catrt", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_golden_file_is_deterministic_and_profiles_differ(files):
    d, model, arrays = files
    assert npz_bytes(make_golden(model, n=6, seed=3)) == (d / "m.golden.npz").read_bytes()
    golden = read_golden((d / "m.golden.npz").read_bytes(), model)
    assert golden.n == 6 and golden.meta["outputs"] == ["z"] and set(golden.expected) == set(PROFILES)
    distinct = {golden.expected[p][0].tobytes() for p in golden.expected}
    assert len(distinct) >= 3, "the test model must tell the profiles apart"


@pytest.mark.skipif(not INTERPRETERS, reason="no TFLite interpreter installed")
def test_check_passes_on_every_installed_interpreter(files):
    d, _, _ = files
    r = check(d / "m.tflite", d / "m.golden.npz")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [line for line in r.stdout.splitlines() if "bit-exact on 6 of 6 inputs" in line]
    assert len(lines) == 4 * len(INTERPRETERS), r.stdout


@pytest.mark.skipif("litert" not in INTERPRETERS, reason="ai-edge-litert not installed")
def test_check_fails_on_an_altered_golden_file(files):
    d, model, arrays = files
    altered = dict(arrays)
    key = "expected__auto-litert21-x86__0"
    value = altered[key].copy()
    value[2, 1, 3, 5] += 1
    altered[key] = value
    (d / "altered.golden.npz").write_bytes(npz_bytes(altered))
    r = check(d / "m.tflite", d / "altered.golden.npz", "--interpreter", "litert", "--resolver", "auto")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "output 'z' (0): DIFFERS on 1 of 6 inputs" in r.stdout
    assert "first: input 2 index [1, 3, 5]" in r.stdout
    ok = check(d / "m.tflite", d / "altered.golden.npz", "--interpreter", "litert", "--resolver", "ref")
    assert ok.returncode == 0, ok.stdout + ok.stderr


@pytest.mark.skipif(not INTERPRETERS, reason="no TFLite interpreter installed")
def test_check_bad_inputs_exit_2(files, tmp_path):
    d, model, arrays = files
    other = tmp_path / "other.tflite"
    other.write_bytes(model + b"\0")                       # another file: sha256 differs
    r = check(other, d / "m.golden.npz", "--interpreter", INTERPRETERS[0])
    assert r.returncode == 2 and "another model" in r.stderr
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not a zip")
    assert check(d / "m.tflite", junk).returncode == 2
    assert check(d / "m.tflite", tmp_path / "missing.npz").returncode == 2
    assert check(d / "m.tflite", d / "m.golden.npz", "--resolver", "fast").returncode == 2
    assert check(d / "m.tflite", d / "m.golden.npz", "--interpreter", "onnx").returncode == 2
    no_meta = {k: v for k, v in arrays.items() if k != "meta"}
    (tmp_path / "no_meta.npz").write_bytes(npz_bytes(no_meta))
    assert check(d / "m.tflite", tmp_path / "no_meta.npz").returncode == 2


def test_read_golden_refuses_malformed_files(files):
    _, model, arrays = files
    bad_rows = dict(arrays, input_0=arrays["input_0"][:2])
    with pytest.raises(CatrtError, match="rows"):
        read_golden(npz_bytes(bad_rows), model)
    meta = json.loads(str(arrays["meta"]))
    meta["format"] = "something/2"
    with pytest.raises(CatrtError, match="format"):
        read_golden(npz_bytes(dict(arrays, meta=np.array(json.dumps(meta)))), model)
    pickled = dict(arrays, input_0=np.array([object()], dtype=object))
    with pytest.raises((CatrtError, ValueError)):
        read_golden(npz_bytes(pickled), model)


def test_check_imports_neither_catdeploy_nor_torch():
    code = ("import sys, catrt.check, catrt.golden; "
            "bad = [m for m in ('catdeploy', 'torch', 'tensorflow', 'flatbuffers') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_golden_file_of_a_packed_int4_model_skips_the_refusing_profiles(tmp_path):
    """DEPTHWISE_CONV_2D v7 (INT4 filter) is registered by no BUILTIN_REF resolver: the golden file
    holds the optimized / XNNPACK profiles only, and check passes there without a ref run."""
    stored = np.load(GOLDEN_DIR / "dw_int4_ties.npz", allow_pickle=False)
    model = stored["model"].tobytes()
    golden = read_golden(npz_bytes(make_golden(model, n=3, seed=1)), model)
    assert not any(name.startswith("ref-") for name in golden.expected)
    assert {"auto-litert21-x86", "builtin-tflite214-x86", "nodelegate-tf219-x86"} <= set(golden.expected)
    with pytest.raises(CatrtError, match="DEPTHWISE_CONV_2D version 7 is not registered in ref-litert21"):
        make_golden(model, n=3, profiles=["ref-litert21"])
    if INTERPRETERS:
        (tmp_path / "m.tflite").write_bytes(model)
        (tmp_path / "m.golden.npz").write_bytes(npz_bytes(make_golden(model, n=3, seed=1)))
        r = check(tmp_path / "m.tflite", tmp_path / "m.golden.npz")
        assert r.returncode == 0, r.stdout + r.stderr
        assert len([line for line in r.stdout.splitlines() if "bit-exact on 3 of 3" in line]) == 3 * len(INTERPRETERS)
