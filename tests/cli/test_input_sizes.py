"""Data at the sizes users bring (issue 11): generated ImageFolder at 96x96 and 224x224 and an .npz
at 96x96, through calibrate, export and verify (bit-exact on every installed interpreter)."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from catdeploy.check.interpreters import available_interpreters
from catdeploy.cli import app

runner = CliRunner()

# Strided stem so that 224x224 stays cheap on 2 cores; ends in global pooling (any input size).
MODEL_PY = textwrap.dedent('''
    import torch.nn as nn


    def build():
        return nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=4, padding=2), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2))
''')


def _cli(*args) -> dict:
    result = runner.invoke(app, [str(a) for a in args] + ["--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def _images(n: int, h: int, w: int, seed: int) -> np.ndarray:
    """n uint8 RGB images (NHWC): class 0 bright top half, class 1 bright bottom half, with noise."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 90, size=(n, h, w, 3)).astype(np.uint8)
    for i in range(n):
        rows = slice(0, h // 2) if i % 2 == 0 else slice(h // 2, h)
        x[i, rows] += np.uint8(120)
    return x


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("sizes")
    (d / "net.py").write_text(MODEL_PY)
    return d / "net.py"


@pytest.mark.parametrize("size", [(96, 96), (224, 224)])
def test_imagefolder_at_user_sizes(model_file, tmp_path, size):
    h, w = size
    root = tmp_path / "photos"
    for i, img in enumerate(_images(24, h, w, seed=h)):
        folder = root / ("top" if i % 2 == 0 else "bottom")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, "RGB").save(folder / f"{i:02d}.png")
    out = tmp_path / "net.tflite"
    _cli("export", f"{model_file}:build", "--weights", _weights(model_file, tmp_path), "--data",
         f"imagefolder:{root}", "--input-size", f"{h}x{w}", "--mean", "0.3", "--std", "0.25", "--bits", "w4a4",
         "--samples", 24, "-o", out)
    from catrt import Interpreter

    assert list(Interpreter(out.read_bytes()).get_input_details()[0].shape) == [1, h, w, 3]
    verify = _cli("verify", out, "--data", f"imagefolder:{root}", "--samples", 4)
    assert verify["bit_exact"] and verify["images"] == 4
    assert {r["interpreter"] for r in verify["runs"]} == set(available_interpreters())
    assert all(r["mismatched_elements"] == 0 for r in verify["runs"])
    manifest = json.loads((tmp_path / "net.tflite.json").read_text())
    assert manifest["calibration"]["preprocessing"]["input_size"] == [h, w]


def test_npz_at_96(model_file, tmp_path):
    x = _images(20, 96, 96, seed=7)
    np.savez(tmp_path / "data.npz", x=x, y=np.arange(20) % 2)
    out = tmp_path / "n.tflite"
    _cli("export", f"{model_file}:build", "--weights", _weights(model_file, tmp_path), "--data",
         f"npz:{tmp_path / 'data.npz'}", "--input-size", 96, "--bits", "w2a4", "--samples", 20, "-o", out)
    verify = _cli("verify", out, "--data", f"npz:{tmp_path / 'data.npz'}", "--samples", 4)
    assert verify["bit_exact"] and all(r["mismatched_elements"] == 0 for r in verify["runs"])


def _weights(model_file, tmp_path):
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("sizes_net", model_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    torch.save(module.build().state_dict(), path)
    return path


def test_every_command_help_has_examples():
    for command in app.registered_commands:
        result = runner.invoke(app, [command.name, "--help"])
        assert result.exit_code == 0 and "Examples" in result.stdout, command.name
        assert f"catdeploy {command.name} " in result.stdout, command.name
