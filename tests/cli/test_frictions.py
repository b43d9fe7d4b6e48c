"""Small frictions of a first trial (issue 24, item 5): `--samples` left at its default on data with
fewer images uses all of them and says so (an explicit count larger than the data stays an error);
a googlenet state dict with auxiliary-head keys loads with those keys dropped and a notice."""
from __future__ import annotations

import logging
import textwrap

import numpy as np
import pytest
import torch
import torchvision
from typer.testing import CliRunner

from catdeploy.cli import app
from catdeploy.data.splits import DEFAULT_CALIBRATION_SAMPLES, calibration_count
from catdeploy.errors import UserError
from catdeploy.quant.options import CalibrationOptions
from catdeploy.quant.quantized_graph import load_quantized_graph

from tests.cli_assertions import one_line_error

runner = CliRunner()
IMAGES = 20

MODEL_PY = textwrap.dedent('''
    import torch.nn as nn


    def build():
        return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
''')


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A user model and an npz of IMAGES images (fewer than the default calibration draw)."""
    d = tmp_path_factory.mktemp("small")
    (d / "model.py").write_text(MODEL_PY)
    torch.manual_seed(0)
    namespace: dict = {}
    exec(MODEL_PY, namespace)
    torch.save(namespace["build"]().state_dict(), d / "w.pt")
    rng = np.random.default_rng(0)
    np.savez(d / "data.npz", x=rng.integers(0, 256, (IMAGES, 16, 16, 3), dtype=np.uint8),
             y=np.arange(IMAGES) % 2)
    return d


def _calibrate(d, out, *extra):
    return run("calibrate", f"{d / 'model.py'}:build", "--weights", d / "w.pt", "--data", f"npz:{d / 'data.npz'}",
               "--input-size", "16", "--bits", "w8a8", "-o", out, *extra)


def test_options_record_tells_default_from_explicit():
    assert CalibrationOptions().samples is None
    assert CalibrationOptions().most_samples == DEFAULT_CALIBRATION_SAMPLES
    assert CalibrationOptions(samples=64).most_samples == 64
    with pytest.raises(UserError, match="--samples 0: must be at least 1"):
        CalibrationOptions(samples=0)
    assert calibration_count(60000, None) == DEFAULT_CALIBRATION_SAMPLES
    assert calibration_count(300, None) == 300
    assert calibration_count(300, 5000) == 5000  # an explicit count is kept: calibration_indices refuses it


def test_default_samples_on_small_data_uses_all_and_says_so(small, tmp_path):
    default = _calibrate(small, tmp_path / "default.qg")
    assert default.exit_code == 0, default.output
    assert (f"--samples: npz:{small / 'data.npz'} has {IMAGES} images, fewer than the default "
            f"{DEFAULT_CALIBRATION_SAMPLES}: calibrating on all {IMAGES}") in default.stderr
    meta = load_quantized_graph(tmp_path / "default.qg").meta
    assert meta["samples"] == IMAGES and meta["calibration_images"] == IMAGES
    # the same archive, byte for byte, as naming the count
    explicit = _calibrate(small, tmp_path / "explicit.qg", "--samples", IMAGES)
    assert explicit.exit_code == 0, explicit.output
    assert "fewer than the default" not in explicit.stderr
    assert (tmp_path / "default.qg").read_bytes() == (tmp_path / "explicit.qg").read_bytes()


def test_explicit_samples_larger_than_the_data_stays_an_error(small, tmp_path):
    one_line_error(_calibrate(small, tmp_path / "x.qg", "--samples", IMAGES + 1),
                   f"--samples {IMAGES + 1}: the data has only {IMAGES} images")
    assert not (tmp_path / "x.qg").exists()


def test_cat_clusters_are_checked_against_the_images_the_default_took(small, tmp_path):
    result = _calibrate(small, tmp_path / "c.qg", "--cat", "--clusters", "32")
    assert result.exit_code == 2, result.output
    notice, error = result.stderr.strip().splitlines()  # the default's notice, then the one-line error
    assert "calibrating on all" in notice
    # the CAT images: every image of the small data (fewer remain after the calibration draw)
    assert error.startswith(f"error: --clusters 32: more clusters than the {IMAGES - -(-IMAGES // 5)} fit samples "
                            f"({IMAGES} CAT images, 5 folds"), error


def test_googlenet_state_dict_with_aux_heads_loads_without_them(tmp_path, caplog):
    weights = tmp_path / "g.pt"
    torch.manual_seed(0)
    full = torchvision.models.googlenet(num_classes=10, aux_logits=True, init_weights=True).eval()
    torch.save(full.state_dict(), weights)
    with caplog.at_level(logging.WARNING, logger="catdeploy"):
        result = run("eval", "googlenet", "--weights", weights, "--data", "digits", "--samples", "8", "--json")
    assert result.exit_code == 0, result.output
    assert (f"--weights {weights}: dropped the auxiliary-head weights (aux1.*, aux2.*); catdeploy builds "
            f"googlenet with aux_logits=False (the heads are unused in eval)") in caplog.text

    from catdeploy.data.float_model import load_float_model

    model, _ = load_float_model("googlenet", weights)
    assert model.aux1 is None and model.aux2 is None
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), full(x))  # eval ignores the auxiliary heads


def test_other_unexpected_keys_are_still_refused(tmp_path):
    weights = tmp_path / "g.pt"
    state = torchvision.models.googlenet(num_classes=10, aux_logits=False, init_weights=False).state_dict()
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, weights)
    one_line_error(run("eval", "googlenet", "--weights", weights, "--data", "digits", "--samples", "8"),
                   "unexpected key 'extra.weight' for googlenet")
