"""CLI contract of reconstruction: --method, --preset, --iters, --convention, --device; eval of the
result shows the simulator beside the integer engine; Ctrl-C leaves nothing behind."""
import json

import pytest
from typer.testing import CliRunner

from catdeploy.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(map(str, args)))


@pytest.fixture(scope="module")
def recon_dir(tmp_path_factory, digits_checkpoint):
    d = tmp_path_factory.mktemp("recon")
    ckpt = digits_checkpoint
    qg = d / "qdrop.qg"
    r = run("calibrate", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--bits", "w2a4",
            "--samples", 64, "--method", "qdrop", "--preset", "fast", "--iters", 3, "-o", qg, "--json")
    assert r.exit_code == 0, r.stderr
    return d, ckpt, qg, json.loads(r.stdout)


def test_calibrate_with_a_method_records_it(recon_dir):
    _, _, qg, payload = recon_dir
    assert payload["method"] == "qdrop"
    from catdeploy.quant.quantized_graph import load_quantized_graph

    meta = load_quantized_graph(qg).meta
    assert meta["method"] == "qdrop" and meta["preset"] == "fast" and meta["iterations"] == 3


def test_eval_reports_simulator_equal_to_the_integer_engines(recon_dir):
    _, _, qg, _ = recon_dir
    for engine in ("catrt", "tflite"):
        r = run("eval", qg, "--data", "digits", "--samples", 100, "--engine", engine, "--json")
        assert r.exit_code == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["simulator_top1"] == out["top1"] and out["simulator_differing_elements"] == 0
        assert out["method"] == "qdrop" and "fake_quant_top1" in out


def test_same_inputs_same_bytes(recon_dir, tmp_path):
    d, ckpt, _, _ = recon_dir
    outs = []
    for i in range(2):
        out = tmp_path / f"m{i}.tflite"
        r = run("export", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--bits", "w2a2", "--samples", 32,
                "--method", "pdquant", "--iters", 2, "--convention", "paper", "-o", out)
        assert r.exit_code == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_interrupt_exits_130_and_writes_nothing(recon_dir, tmp_path, monkeypatch):
    d, ckpt, _, _ = recon_dir
    import catdeploy.quant.recon.engine as engine

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "reconstruct", interrupted)
    for command in ("calibrate", "export"):
        out = tmp_path / f"x.{'qg' if command == 'calibrate' else 'tflite'}"
        args = ([command, "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--samples", 16,
                 "--method", "brecq", "-o", out])
        r = run(*args)
        assert r.exit_code == 130, (r.exit_code, r.stderr)
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra, fragment", [
    (["--method", "gptq"], "--method 'gptq'"),
    (["--method", "brecq", "--preset", "slow"], "--preset 'slow'"),
    (["--method", "brecq", "--iters", 0], "--iters 0"),
    (["--convention", "float"], "--convention 'float'"),
    (["--convention", "paper", "--strict"], "exclude each other"),
])
def test_option_errors(recon_dir, tmp_path, extra, fragment):
    _, ckpt, _, _ = recon_dir
    r = run("calibrate", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--samples", 16,
            "-o", tmp_path / "x.qg", *extra)
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], r.stderr
    assert not (tmp_path / "x.qg").exists()


def test_cuda_without_a_gpu_is_a_clear_error(recon_dir, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    _, ckpt, _, _ = recon_dir
    r = run("calibrate", "mnasnet0_5", "--weights", ckpt, "--data", "digits", "--samples", 16,
            "--method", "brecq", "--device", "cuda", "-o", tmp_path / "x.qg")
    assert r.exit_code == 2 and "--device cuda" in r.stderr.strip().splitlines()[-1], r.stderr
