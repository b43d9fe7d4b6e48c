"""CLI contract of the integer spine: calibrate, export, verify, eval (quantized), inspect."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from catdeploy.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(map(str, args)))


def one_line_error(result, code=2, *fragments):
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(("error: ", "check failed: ")), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, digits_checkpoint):
    d = tmp_path_factory.mktemp("spine")
    ckpt = digits_checkpoint
    qg = d / "m.qg"
    r = run("calibrate", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--bits", "w4a4",
            "--samples", 64, "-o", qg, "--json")
    assert r.exit_code == 0, r.stderr
    tfl = d / "m.tflite"
    r = run("export", qg, "--target", "tflite", "-o", tfl, "--json")
    assert r.exit_code == 0, r.stderr
    return d, ckpt, qg, tfl, json.loads(r.stdout)


def test_export_writes_model_and_manifest(workdir):
    d, ckpt, qg, tfl, payload = workdir
    manifest = json.loads((d / "m.tflite.json").read_text())
    assert payload["sha256"] == manifest["sha256"] and manifest["setting"] == "w4a4"
    assert tfl.stat().st_size == manifest["size_bytes"]
    assert set(manifest["weight_bits"].values()) == {4, 8}
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]


def test_export_is_reproducible_and_refuses_overwrite(workdir):
    d, ckpt, qg, tfl, _ = workdir
    one_line_error(run("export", qg, "-o", tfl), 2, "already exists", "--force")
    again = d / "again.tflite"
    assert run("export", qg, "-o", again).exit_code == 0
    assert again.read_bytes() == tfl.read_bytes()


def test_export_straight_from_model_matches_calibrate_then_export(workdir):
    d, ckpt, qg, tfl, _ = workdir
    direct = d / "direct.tflite"
    r = run("export", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--bits", "w4a4",
            "--samples", 64, "--target", "tflite", "-o", direct)
    assert r.exit_code == 0, r.stderr
    assert direct.read_bytes() == tfl.read_bytes()


def test_verify_json_is_bit_exact(workdir):
    _, _, _, tfl, _ = workdir
    r = run("verify", tfl, "--data", "digits", "--samples", 32, "--interpreter", "tflite-runtime,litert",
            "--resolver", "ref", "--json")
    assert r.exit_code == 0, r.stderr
    payload = json.loads(r.stdout)
    assert payload["bit_exact"] is True and len(payload["runs"]) == 2
    for run_ in payload["runs"]:
        assert run_["mismatched_elements"] == 0 and run_["tensors_compared"] > 50
        assert run_["resolver"] == "ref" and run_["version"] in ("2.14.0", "2.1.0")


def test_verify_optimized_resolvers_are_bit_exact(workdir):
    """Every resolver of ai-edge-litert (XNNPACK under auto) through its own catrt profile."""
    _, _, _, tfl, _ = workdir
    r = run("verify", tfl, "--data", "digits", "--samples", 32, "--interpreter", "litert",
            "--resolver", "all", "--json")
    assert r.exit_code == 0, r.stdout
    payload = json.loads(r.stdout)
    assert [run_["profile"] for run_ in payload["runs"]] == [
        "ref-litert21", "builtin-litert21-x86", "nodelegate-litert21-x86", "auto-litert21-x86"]
    assert all(run_["mismatched_elements"] == 0 and run_["tensors_compared"] > 50 for run_ in payload["runs"])


def test_verify_reports_non_bit_exact_with_exit_1(workdir, monkeypatch):
    """Compared with the wrong arithmetic (the reference profile for XNNPACK's auto), verify must
    say so: exit 1, mismatches counted, the first mismatching tensor named."""
    import catdeploy.check.verify as verify

    _, _, _, tfl, _ = workdir
    monkeypatch.setattr(verify, "catrt_profile", lambda interp, resolver, version=None, arch=None:
                        ("ref-litert21", "ref-litert21 (forced)"))
    r = run("verify", tfl, "--data", "digits", "--samples", 32, "--interpreter", "litert",
            "--resolver", "auto", "--json")
    payload = json.loads(r.stdout)
    assert r.exit_code == 1 and payload["bit_exact"] is False
    assert payload["runs"][0]["mismatched_elements"] > 0
    assert payload["runs"][0]["first_mismatch"]["tensor"]


def test_verify_packed_int4_export_on_every_resolver(workdir):
    """--int4-weights on mnasnet (INT4 CONV_2D v7 and DEPTHWISE_CONV_2D v7): every run that loads
    is bit-exact through its own profile (XNNPACK leaves the INT4 convolutions to the built-in
    kernels); the reference resolvers, which do not register DEPTHWISE_CONV_2D v7, are reported as
    refused by both, and verify exits 0."""
    from catdeploy.check.interpreters import available_interpreters

    d, ckpt, _, tfl, _ = workdir
    qg, packed = d / "sym.qg", d / "int4.tflite"
    assert run("calibrate", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--bits", "w4a4",
               "--symmetric-weights", "--samples", 64, "-o", qg).exit_code == 0
    r = run("export", qg, "--int4-weights", "-o", packed)
    assert r.exit_code == 0, r.stderr
    assert packed.stat().st_size < 0.75 * tfl.stat().st_size
    r = run("verify", packed, "--data", "digits", "--samples", 16, "--interpreter", "all",
            "--resolver", "all", "--json")
    payload = json.loads(r.stdout)
    assert r.exit_code == 0 and payload["bit_exact"] is True, r.stdout
    runs = payload["runs"]
    assert len(runs) == 4 * len(available_interpreters())
    assert {run_["resolver"] for run_ in runs if run_["refused_by_both"]} == {"ref"}
    loaded = [run_ for run_ in runs if not run_["refused_by_both"]]
    assert all(run_["bit_exact"] and run_["tensors_compared"] > 50 for run_ in loaded)
    assert any(run_["profile"].startswith("auto-litert21") for run_ in loaded)


def test_eval_quantized_engines_agree(workdir):
    _, _, qg, tfl, _ = workdir
    a = json.loads(run("eval", tfl, "--data", "digits", "--samples", 100, "--engine", "catrt", "--json").stdout)
    b = json.loads(run("eval", tfl, "--data", "digits", "--samples", 100, "--engine", "tflite", "--json").stdout)
    c = json.loads(run("eval", qg, "--data", "digits", "--samples", 100, "--json").stdout)
    assert a["n"] == b["n"] == 100 and a["top1"] == b["top1"] == c["top1"]
    assert "fake_quant_top1" in c


def test_eval_in_chunks_reports_what_one_chunk_reports(workdir, monkeypatch):
    """eval preprocesses and runs its images a chunk at a time (10 000 images at 224 x 224 are 6 GB);
    chunks are whole 256-image batches, so every number is the one of a single chunk."""
    from catdeploy import pipeline

    _, _, qg, tfl, _ = workdir
    cases = [(tfl, "--engine", "catrt", "--interpreter", "litert", "--resolver", "auto"),
             (tfl, "--engine", "tflite", "--interpreter", "litert", "--resolver", "auto"),
             (qg, "--engine", "catrt")]
    whole = [json.loads(run("eval", m, "--data", "digits:train", "--samples", 600, *opts, "--json").stdout)
             for m, *opts in cases]
    chunks = []
    real = pipeline.eval_chunks

    def small_chunks(*args, **kwargs):
        for x, y in real(*args, **{**kwargs, "chunk_bytes": 1}):
            chunks.append(len(x))
            yield x, y
    monkeypatch.setattr(pipeline, "eval_chunks", small_chunks)
    chunked = [json.loads(run("eval", m, "--data", "digits:train", "--samples", 600, *opts, "--json").stdout)
               for m, *opts in cases]
    assert chunks == [256, 256, 88] * 3
    assert chunked == whole and whole[2]["simulator_differing_elements"] == 0 and whole[0]["n"] == 600


def test_eval_optimized_resolver_engines_agree(workdir):
    """eval of the XNNPACK path: the real interpreter and catrt with its profile give the same
    integer top-1, and the reference top-1 is reported beside it."""
    _, _, _, tfl, _ = workdir
    common = ("--data", "digits", "--samples", 100, "--interpreter", "litert", "--resolver", "auto", "--json")
    a = json.loads(run("eval", tfl, "--engine", "catrt", *common).stdout)
    b = json.loads(run("eval", tfl, "--engine", "tflite", *common).stdout)
    assert a["engine"] == "catrt (auto-litert21-x86)" and b["engine"] == "litert 2.1.0 (auto)"
    assert a["top1"] == b["top1"] and a["top1_ref"] == b["top1_ref"]
    assert a["top1_agreement_with_ref"] == b["top1_agreement_with_ref"]
    one_line_error(run("eval", tfl, "--data", "digits", "--resolver", "fast"), 2, "--resolver")


def test_export_golden_and_catrt_check(workdir):
    """export --golden N writes MODEL.golden.npz; python -m catrt check passes with the installed
    interpreters and fails (exit 1, naming the output) once an expected value is altered."""
    import subprocess
    import sys

    from catrt.golden import npz_bytes, read_golden

    d, _, qg, _, _ = workdir
    tfl = d / "golden.tflite"
    r = run("export", qg, "-o", tfl, "--golden", 4, "--json")
    assert r.exit_code == 0, r.stderr
    path = d / "golden.golden.npz"
    assert json.loads(r.stdout)["golden"] == str(path)
    assert json.loads((d / "golden.tflite.json").read_text())["golden"] == {"path": path.name, "samples": 4}
    golden = read_golden(path.read_bytes(), tfl.read_bytes())
    assert golden.n == 4 and "auto-litert21-x86" in golden.expected

    def check(*args):
        return subprocess.run([sys.executable, "-m", "catrt", "check", tfl, *args], capture_output=True,
                              text=True, timeout=300)

    ok = check(path, "--interpreter", "litert")
    assert ok.returncode == 0 and ok.stdout.count("bit-exact on 4 of 4 inputs") == 4, ok.stdout + ok.stderr
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    name = golden.meta["outputs"][0]
    arrays["expected__nodelegate-litert21-x86__0"][1, 0] -= 1
    altered = d / "altered.golden.npz"
    altered.write_bytes(npz_bytes(arrays))
    bad = check(altered, "--interpreter", "litert", "--resolver", "nodelegate")
    assert bad.returncode == 1 and f"output {name!r} (0): DIFFERS on 1 of 4 inputs" in bad.stdout, bad.stdout
    one_line_error(run("export", qg, "-o", tfl, "--golden", 4), 2, "already exists")


def test_inspect_json(workdir):
    _, _, _, tfl, _ = workdir
    r = run("inspect", tfl, "--data", "digits", "--samples", 64, "--json")
    assert r.exit_code == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["float_ops"] == [] and info["activation_violations"] == [] and info["weight_violations"] == []
    assert info["op_counts"]["CONV_2D"] > 10 and info["op_counts"]["DEPTHWISE_CONV_2D"] > 5
    planned = [t for t in info["tensors"] if "distinct_values" in t and "bits" in t]
    assert planned and all(t["distinct_values"] <= 2 ** t["bits"] for t in planned)
    assert any(t["bits"] == 4 for t in planned)


@pytest.mark.parametrize("args,fragments", [
    (["calibrate", "resnet1800", "--weights", "x.pt", "--data", "digits", "-o", "o.qg"], ["resnet1800"]),
    (["export", "m.qg", "--target", "onnx", "-o", "o.tflite"], ["--target"]),
    (["export", "mnasnet0_5", "-o", "o.tflite"], ["--weights"]),
])
def test_usage_errors(tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    one_line_error(run(*args), 2, *fragments)


def test_bad_bits(workdir, tmp_path):
    _, ckpt, _, _, _ = workdir
    one_line_error(run("calibrate", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--bits", "w9a3",
                       "-o", tmp_path / "x.qg"), 2, "--bits")
    assert not (tmp_path / "x.qg").exists()


def test_odd_bits_are_accepted(workdir, tmp_path):
    """w3a3 (every PTQ paper's table) is a setting like the others, not an error."""
    _, ckpt, _, _, _ = workdir
    res = run("calibrate", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--samples", "64",
              "--bits", "w3a3", "-o", tmp_path / "x.qg")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "x.qg").exists()


def test_corrupt_inputs(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"TFL3" + bytes(100))
    one_line_error(run("verify", bad, "--data", "digits", "--samples", 4), 2, "bad.tflite")
    one_line_error(run("inspect", bad), 2, "bad.tflite")
    qg = tmp_path / "bad.qg"
    qg.write_bytes(b"PK\x03\x04garbage")
    one_line_error(run("export", qg, "-o", tmp_path / "o.tflite"), 2, "bad.qg")
    assert not (tmp_path / "o.tflite").exists()


@pytest.fixture(scope="module")
def cat_workdir(workdir):
    d, ckpt, _, _, _ = workdir
    qg = d / "cat.qg"
    r = run("calibrate", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--bits", "w2a2",
            "--samples", 96, "--cat", "--cat-samples", 256, "--cat-views", 1, "--affine-layers", "-o", qg, "--json")
    assert r.exit_code == 0, r.stderr
    tfl = d / "cat.tflite"
    r2 = run("export", qg, "-o", tfl, "--json")
    assert r2.exit_code == 0, r2.stderr
    return d, ckpt, qg, tfl, json.loads(r.stdout)


def test_cat_calibrate_reports_the_cross_fitted_evidence(cat_workdir):
    _, _, _, _, payload = cat_workdir
    cat = payload["cat"]
    assert cat["selection"] == "cross-fitted" and cat["folds"] == 5
    assert cat["cat_images"] == cat["held_out_images"] == 256 and cat["fit_views"] == 256
    assert cat["reason"].startswith("applied" if cat["applied"] else "none")
    if cat["applied"]:
        assert cat["gain_low"] > 0 and cat["heldout_top1"] > cat["heldout_top1_none"]
    aff = payload["affine_layers"]
    assert aff["fit_images"] == 128 and aff["held_out_images"] == 128
    assert aff["applied"] == (aff.get("gain_low", 0) > 0)


def test_cat_export_is_bit_exact_and_inspect_shows_the_head(cat_workdir):
    d, _, qg, tfl, payload = cat_workdir
    r = run("verify", tfl, "--data", "digits", "--samples", 32, "--interpreter", "all", "--resolver", "ref", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["bit_exact"] is True
    manifest = json.loads((d / "cat.tflite.json").read_text())
    info = json.loads(run("inspect", tfl, "--json").stdout)
    ev = json.loads(run("eval", qg, "--data", "digits", "--samples", 200, "--json").stdout)
    if payload["cat"]["applied"]:
        head = info["cat_head"]
        k = manifest["cat"]["clusters"]
        assert head["clusters"] == k and sum(head["cluster_sizes"]) == payload["cat"]["fit_logits"]
        assert head["weight_buffer_tensors"] == (k + 1 if k > 1 else 1)
        # the heads differ from the base by their scales; two clusters may share a scale set (and
        # differ by their int32 biases only)
        assert 2 <= head["weight_buffer_distinct_scales"] <= head["weight_buffer_tensors"]
        assert manifest["cat"]["negative_scale_handling"] == "floor"
        assert "top1_with_cat" in ev and ev["top1"] == ev["top1_with_cat"]
        assert ev["top1_without_cat"] >= 0
    else:
        assert info["cat_head"] is None and manifest["cat"] is None


def test_cat_same_inputs_same_bytes(cat_workdir):
    d, ckpt, qg, _, _ = cat_workdir
    again = d / "cat_again.qg"
    r = run("calibrate", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--bits", "w2a2",
            "--samples", 96, "--cat", "--cat-samples", 256, "--cat-views", 1, "--affine-layers", "-o", again)
    assert r.exit_code == 0, r.stderr
    assert again.read_bytes() == qg.read_bytes()


@pytest.mark.parametrize("extra,fragment", [
    (["--clusters", "5000"], "--clusters 5000"),
    (["--clusters", "0"], "--clusters"),
    (["--alpha", "0"], "--alpha"),
    (["--alpha", "x"], "--alpha"),
    (["--cat-views", "-1"], "--cat-views"),
    (["--cat-samples", "8"], "--cat-samples 8"),
    (["--cat-samples", "many"], "--cat-samples 'many'"),
    (["--cat-max-cost", "2"], "--cat-max-cost 2"),
])
def test_cat_option_errors(workdir, tmp_path, extra, fragment):
    _, ckpt, _, _, _ = workdir
    out = tmp_path / "x.qg"
    one_line_error(run("calibrate", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--bits", "w4a4",
                       "--samples", 64, "--cat", *extra, "-o", out), 2, fragment)
    assert not out.exists()
