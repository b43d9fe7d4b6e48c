"""CLI contract for the edge architectures: googlenet's auxiliary-head state dict and an
architecture with unsupported ops are refused with exit 2 and one line."""
import torch
import torchvision
from typer.testing import CliRunner

from catdeploy.cli import app

from tests.cli_assertions import one_line_error

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(map(str, args)))


def test_googlenet_state_dict_with_aux_heads(tmp_path):
    weights = tmp_path / "g.pt"
    full = torchvision.models.googlenet(num_classes=10, aux_logits=True, init_weights=False)
    torch.save(full.state_dict(), weights)
    one_line_error(run("calibrate", "googlenet", "--weights", weights, "--data", "digits", "-o", tmp_path / "g.qg"),
                   "auxiliary-head keys (aux1.*, aux2.*)", "aux_logits=False")


def test_unsupported_ops_are_all_named(tmp_path):
    weights = tmp_path / "c.pt"
    torch.save(torchvision.models.convnext_tiny(num_classes=10).state_dict(), weights)
    one_line_error(run("calibrate", "convnext_tiny", "--weights", weights, "--data", "digits", "-o", tmp_path / "c.qg"),
                   "unsupported ops: ", "aten.native_layer_norm at features.0.1/layer_norm",
                   "aten.gelu at features.1.0.block.4 (torch.nn.GELU)")
