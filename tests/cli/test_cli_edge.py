"""CLI contract for the edge architectures: an architecture with unsupported ops is refused with
exit 2 and one line (googlenet's auxiliary-head state dict now loads: tests/cli/test_frictions.py)."""
import json

import torch
import torchvision
from typer.testing import CliRunner

from catdeploy.cli import app

from tests.cli_assertions import one_line_error

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(map(str, args)))


def test_unsupported_ops_are_all_named(tmp_path):
    weights = tmp_path / "c.pt"
    torch.save(torchvision.models.convnext_tiny(num_classes=10).state_dict(), weights)
    args = ("calibrate", "convnext_tiny", "--weights", weights, "--data", "digits", "-o", tmp_path / "c.qg")
    line = one_line_error(run(*args), "unsupported ops: ", "aten.native_layer_norm at features.0.1/layer_norm",
                          "23 sites", "and 3 more kinds")   # one entry per op kind, cut at 400 characters
    assert len(line) <= 400
    kinds = {e["kind"]: e for e in json.loads(run(*args, "--json").stdout)["unsupported"]}   # all of them
    assert kinds["aten.gelu"]["call"] == "torch.nn.GELU" and kinds["aten.gelu"]["count"] == 18
    assert kinds["aten.gelu"]["sites"][0]["at"] == "features.1.0.block.4"
