"""`export --bits fp32` from the CLI: the file and its manifest, eval under TFLite against the float
model, and one-line refusals where an integer graph is needed."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from catdeploy.cli import app
from tests.cli_assertions import one_line_error

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(map(str, args)))


def test_cli_export_fp32_eval_and_refusals(tmp_path, digits_checkpoint):
    out = tmp_path / "m_fp32.tflite"
    r = _run("export", "mnasnet0_5", "--weights", digits_checkpoint, "--data", "digits", "--bits", "fp32",
             "-o", out, "--json")
    assert r.exit_code == 0, r.stderr
    manifest = json.loads((tmp_path / "m_fp32.tflite.json").read_text())
    assert manifest["setting"] == "fp32" and manifest["size_bytes"] == out.stat().st_size
    assert manifest["calibration"]["preprocessing"]["normalization"] is not None
    tfl = _run("eval", out, "--data", "digits", "--samples", 200, "--engine", "tflite", "--json")
    fp = _run("eval", "mnasnet0_5", "--weights", digits_checkpoint, "--data", "digits", "--samples", 200, "--json")
    assert tfl.exit_code == 0 and fp.exit_code == 0, (tfl.stderr, fp.stderr)
    assert abs(json.loads(tfl.stdout)["top1"] - json.loads(fp.stdout)["top1"]) <= 0.5  # at most one image
    one_line_error(_run("export", "mnasnet0_5", "--weights", digits_checkpoint, "--bits", "fp32", "-o", out),
                   "already exists")
    one_line_error(_run("export", "mnasnet0_5", "--weights", digits_checkpoint, "--bits", "fp32", "--cat",
                        "--int4-weights", "-o", tmp_path / "x.tflite"), "--int4-weights, --cat")
    one_line_error(_run("eval", out, "--data", "digits", "--samples", 8, "--engine", "catrt"), "float32 graph")
    one_line_error(_run("verify", out, "--data", "digits", "--samples", 4), "float32 graph")
    assert not (tmp_path / "x.tflite").exists()
