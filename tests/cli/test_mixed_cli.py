"""`--bits auto:wXaY`, `--bits auto --max-drop P` and `catdeploy sensitivity` end to end on a small
model of the user's own, trained briefly on scikit-learn's digits (issue 25): the widths land in
the .qg within the budget, the choice is checked on held-out train images, bad requests are one
line and exit 2."""
from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from catdeploy.cli import app
from catdeploy.mixed.budget import Widths, budget_layers, cost_of
from catdeploy.pipeline import load_quantized
from catdeploy.quant.options import CalibrationOptions
from catdeploy.quant.plan import WEIGHTED_OPS

runner = CliRunner()

MODEL_PY = textwrap.dedent('''
    import torch
    import torch.nn as nn


    def build():
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU6(),
            nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
''')
COMMON = ["--data", "digits", "--samples", "256", "--held-out", "128"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    (d / "net.py").write_text(MODEL_PY)
    weights = d / "net.pt"
    r = runner.invoke(app, ["train", f"{d}/net.py:build", "--data", "digits", "-o", str(weights), "--epochs", "2",
                            "--batch-size", "64"])
    assert r.exit_code == 0, r.stderr
    return d, f"{d}/net.py:build", str(weights)


def _json(args: list[str]) -> dict:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_auto_budget_writes_checked_widths_within_the_budget(tiny_model):
    d, model, weights = tiny_model
    out = d / "auto.qg"
    result = _json(["calibrate", model, "--weights", weights, *COMMON, "--bits", "auto:w3a3", "-o", str(out),
                    "--json"])
    mixed = result["mixed_precision"]
    assert result["setting"] == "auto:w3a3" and mixed["request"] == "auto:w3a3"
    assert mixed["cost"]["weight_bits_per_parameter"] <= 3.0 + 1e-9
    assert any(n.startswith("chosen: ") for n in mixed["notes"])
    qg = load_quantized(out)
    layers = budget_layers(qg.graph, CalibrationOptions())
    # the widths in the archive's plan are the chosen ones, and their cost is the reported cost
    assert {k: qg.plan.weights[k] for k in mixed["weights"]} == mixed["weights"]
    assert {k: qg.weight_qparams[k].bits for k in mixed["weights"]} == mixed["weights"]
    cost = cost_of(layers, Widths(mixed["weights"], mixed["activations"]))
    assert cost.weight_bits == pytest.approx(mixed["cost"]["weight_bits_per_parameter"])
    assert cost.bops == mixed["cost"]["bops"] and cost.within(3.0, 3.0, layers)
    for name in mixed["activations"]:
        read = qg.plan.node_inputs[name][0]
        assert qg.act_qparams[read].bits == mixed["activations"][name]
    # layers outside the budget (stem, classifier) stay at 8 bit
    outside = [n.name for n in qg.graph.nodes if n.kind in WEIGHTED_OPS and n.name not in mixed["weights"]]
    assert outside and all(qg.plan.weights[n] == 8 for n in outside)


def test_max_drop_chooses_the_smallest_storage_that_holds(tiny_model):
    d, model, weights = tiny_model
    result = _json(["calibrate", model, "--weights", weights, *COMMON, "--bits", "auto", "--max-drop", "3",
                    "-o", str(d / "drop.qg"), "--json"])
    mixed = result["mixed_precision"]
    target = float(mixed["notes"][0].split(">= ")[1].split(" %")[0])
    assert mixed["held_out"]["top1"] >= target or "miss the target" in " ".join(mixed["notes"])
    assert set(mixed["activations"].values()) <= {8}


def test_sensitivity_table(tiny_model):
    d, model, weights = tiny_model
    table = _json(["sensitivity", model, "--weights", weights, *COMMON, "--bits", "w2a2", "--json",
                   "-o", str(d / "net.sensitivity.json")])
    assert json.loads((d / "net.sensitivity.json").read_text()) == table
    layers = budget_layers(load_quantized(d / "auto.qg").graph, CalibrationOptions()) \
        if (d / "auto.qg").exists() else None
    kinds = {(r["layer"], r["tensor"]) for r in table["rows"]}
    if layers is not None:
        assert {name for name, _ in kinds} == {layer.name for layer in layers}
    assert {kind for _, kind in kinds} == {"weight", "activation"}
    assert table["held_out_images"] == 128 and table["low"] == {"weight_bits": 2, "act_bits": 2}
    assert table["all_8bit"]["top1"] >= table["all_low"]["top1"]
    assert all(r["sqnr_db"] is None or r["sqnr_db"] < 80 for r in table["sqnr"]) and table["sqnr"]
    r = runner.invoke(app, ["sensitivity", model, "--weights", weights, *COMMON, "--bits", "w2a2"])
    assert r.exit_code == 0 and "damage" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["--bits", "auto"], "--bits auto needs --max-drop"),
    (["--bits", "auto:w3a3", "--weight-bits", "0=4"], "leave out --weight-bits"),
    (["--bits", "auto:w3a3", "--held-out", "10"], "--held-out 10"),
])
def test_bad_mixed_requests_are_one_line(tiny_model, args, message):
    d, model, weights = tiny_model
    r = runner.invoke(app, ["calibrate", model, "--weights", weights, "--data", "digits", *args, "-o",
                            str(d / "bad.qg")])
    assert r.exit_code == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (d / "bad.qg").exists()


def test_report_plots_sensitivity_and_the_pareto_front(tiny_model):
    d, model, weights = tiny_model
    for name, args in (("auto.qg", ["--bits", "auto:w3a3"]), ("u.qg", ["--bits", "w3a3"])):
        if not (d / name).exists():
            _json(["calibrate", model, "--weights", weights, *COMMON, *args, "-o", str(d / name), "--json"])
    if not (d / "net.sensitivity.json").exists():
        _json(["sensitivity", model, "--weights", weights, *COMMON, "--bits", "w2a2", "--json",
               "-o", str(d / "net.sensitivity.json")])
    out = d / "report"
    r = runner.invoke(app, ["report", str(d), "--data", "digits:test", "--samples", "64", "--verify-samples", "4",
                            "-o", str(out), "--force"])
    assert r.exit_code == 0, r.stderr
    report = json.loads((out / "report.json").read_text())
    assert [t["file"] for t in report["sensitivity"]] == ["net.sensitivity.json"]
    points = {m["name"]: m["budget"] for m in report["models"]}
    assert points["auto.qg"]["mixed"] and not points["u.qg"]["mixed"]
    assert points["u.qg"]["weight_bits_per_parameter"] == pytest.approx(3.0)
    assert points["auto.qg"]["weight_bits_per_parameter"] <= 3.0 + 1e-9
    assert (out / "pareto.png").stat().st_size > 0 and (out / "sensitivity.png").stat().st_size > 0
    assert "Mixed precision: storage against accuracy" in (out / "report.md").read_text()


def test_auto_with_reconstruction_cat_affine_and_strict(tiny_model):
    """The chosen widths go through every later stage: a reconstruction method, --affine-layers,
    CAT, the strict convention (the stem and the classifier join the budget)."""
    d, model, weights = tiny_model
    out = d / "recon.qg"
    result = _json(["calibrate", model, "--weights", weights, *COMMON, "--bits", "auto:w3a4", "--strict",
                    "--method", "qdrop", "--iters", "4", "--affine-layers", "--cat", "--clusters", "2",
                    "-o", str(out), "--json"])
    qg = load_quantized(out)
    mixed = result["mixed_precision"]
    assert result["method"] == "qdrop" and qg.meta["method"] == "qdrop"
    assert qg.plan.strict and len(mixed["weights"]) == sum(n.kind in WEIGHTED_OPS for n in qg.graph.nodes)
    assert {k: qg.weight_qparams[k].bits for k in mixed["weights"]} == mixed["weights"]
    assert mixed["cost"]["weight_bits_per_parameter"] <= 3.0 + 1e-9
    assert result["cat"] is not None and result["affine_layers"] is not None


def test_manifest_and_inspect_name_the_chosen_widths(tiny_model):
    d, model, weights = tiny_model
    if not (d / "auto.qg").exists():
        _json(["calibrate", model, "--weights", weights, *COMMON, "--bits", "auto:w3a3", "-o", str(d / "auto.qg"),
               "--json"])
    out = d / "auto.tflite"
    r = runner.invoke(app, ["export", str(d / "auto.qg"), "-o", str(out), "--force"])
    assert r.exit_code == 0, r.stderr
    mixed = load_quantized(d / "auto.qg").meta["mixed_precision"]
    assert json.loads((d / "auto.tflite.json").read_text())["mixed_precision"] == mixed
    info = _json(["inspect", str(out), "--json"])
    assert info["mixed_precision"] == mixed
    r = runner.invoke(app, ["inspect", str(out)])
    assert r.exit_code == 0 and "mixed precision auto:w3a3" in r.stdout
    first = next(iter(mixed["weights"]))
    assert f"{first}: w{mixed['weights'][first]}" in r.stdout


def test_mixed_export_keeps_each_tensor_on_its_own_grid_and_is_reproducible(tiny_model):
    """A mixed-precision export: every activation tensor, and every channel of every weight tensor
    (per-channel grids), takes at most 2^b distinct values at its own width b (the widths differ
    across tensors), and the same command twice gives byte-identical .qg and .tflite files."""
    import numpy as np

    from catdeploy import api
    from catrt import Interpreter

    d, model, weights = tiny_model
    outputs = []
    for name in ("m1", "m2"):
        out = d / f"{name}.tflite"
        r = runner.invoke(app, ["export", model, "--weights", weights, *COMMON, "--bits", "auto:w3a3",
                                "--target", "tflite", "-o", str(out)])
        assert r.exit_code == 0, r.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    qg1 = d / "same1.qg"
    qg2 = d / "same2.qg"
    for path in (qg1, qg2):
        _json(["calibrate", model, "--weights", weights, *COMMON, "--bits", "auto:w3a3", "-o", str(path), "--json"])
    assert qg1.read_bytes() == qg2.read_bytes()
    program = api.lower(load_quantized(qg1))
    x = np.random.default_rng(0).integers(-128, 128, size=(16, *program.tensors[program.inputs[0]].shape[1:]))
    values = Interpreter(outputs[0]).run([x.astype(np.int8)], keep_all=True)
    widths = set()
    for t in program.tensors.values():
        if t.bits is None or t.dtype != "int8":
            continue
        if t.data is None:
            assert len(np.unique(values[t.name])) <= (1 << t.bits), (t.name, t.bits)
        else:
            channels = np.moveaxis(t.data, t.quantized_dimension, 0).reshape(t.data.shape[t.quantized_dimension], -1)
            assert max(len(np.unique(c)) for c in channels) <= (1 << t.bits), (t.name, t.bits)
        widths.add(t.bits)
    assert len(widths) >= 2, widths
