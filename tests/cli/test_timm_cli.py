"""`timm:NAME` wherever the CLI takes a MODEL (issue 24, item 3): train, eval, calibrate, export,
and the one-line refusals (exit 2) of a missing timm, an unknown name and weights that do not fit."""
from __future__ import annotations

import json
import sys

import pytest
import torch
from typer.testing import CliRunner

from catdeploy.cli import app

from tests.cli_assertions import one_line_error

timm = pytest.importorskip("timm")
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """timm:resnet10t trained by `catdeploy train` for one epoch on 64 digits images, 1 channel at 32x32."""
    ckpt = tmp_path_factory.mktemp("timm") / "r10t.pt"
    result = run("train", "timm:resnet10t", "--data", "digits", "--grayscale", "--input-size", "32", "--epochs", "1",
                 "--limit", "64", "--batch-size", "32", "--threads", "1", "-o", ckpt, "--json")
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout.strip().splitlines()[-1])
    assert meta["model"] == "timm:resnet10t" and meta["channels"] == 1 and meta["num_classes"] == 10
    return ckpt


def test_eval_and_calibrate_a_trained_timm_model(trained, tmp_path):
    result = run("eval", "timm:resnet10t", "--weights", trained, "--data", "digits:test", "--samples", "32", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 32
    out = tmp_path / "r10t.qg"
    result = run("calibrate", "timm:resnet10t", "--weights", trained, "--data", "digits", "--bits", "w4a4",
                 "--samples", "32", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    from catdeploy.quant.quantized_graph import load_quantized_graph

    meta = load_quantized_graph(out).meta
    assert meta["model"] == "timm:resnet10t" and meta["preprocessing"]["channels"] == 1


def test_export_from_safetensors(tmp_path):
    """A plain timm state dict in .safetensors (resnet18: no average-down shortcut) to a .tflite."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    weights = tmp_path / "r18.safetensors"
    save_file(timm.create_model("resnet18", pretrained=False, num_classes=10).state_dict(), str(weights))
    out = tmp_path / "r18.tflite"
    result = run("export", "timm:resnet18", "--weights", weights, "--data", "digits", "--bits", "w8a8",
                 "--samples", "16", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["size_bytes"] == out.stat().st_size


def test_unknown_timm_name(trained, tmp_path):
    one_line_error(run("calibrate", "timm:resnt10t", "--weights", trained, "--data", "digits", "-o", tmp_path / "x.qg"),
                   "unknown model 'timm:resnt10t'", "did you mean timm:resnet10t")
    one_line_error(run("train", "timm:nonexistent_net", "--data", "digits", "-o", tmp_path / "x.pt"),
                   "unknown model 'timm:nonexistent_net'")
    one_line_error(run("calibrate", "resnet10t", "--weights", trained, "--data", "digits", "-o", tmp_path / "x.qg"),
                   "timm has it: timm:resnet10t")


def test_weights_that_do_not_fit(tmp_path):
    weights = tmp_path / "r18.pt"
    torch.save(timm.create_model("resnet18", pretrained=False, num_classes=10).state_dict(), weights)
    line = one_line_error(run("calibrate", "timm:resnet10t", "--weights", weights, "--data", "digits",
                              "-o", tmp_path / "x.qg"),
                          "the weights do not fit timm:resnet10t", " missing (", " unexpected (")
    assert len(line) < 400


def test_timm_not_installed(monkeypatch, trained, tmp_path):
    monkeypatch.setitem(sys.modules, "timm", None)
    message = "timm:NAME needs the optional dependency timm: pip install 'catdeploy[timm]'"
    one_line_error(run("calibrate", "timm:resnet10t", "--weights", trained, "--data", "digits", "-o", tmp_path / "x.qg"),
                   message)
    one_line_error(run("train", "timm:resnet10t", "--data", "digits", "-o", tmp_path / "x.pt"), message)
