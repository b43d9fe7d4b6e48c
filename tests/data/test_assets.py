"""The embedded default model: small, loadable with weights_only, and described by its JSON."""
import hashlib
from pathlib import Path

import pytest
import torch

from catdeploy.assets import DEFAULT_MODEL_PATH, default_model_info, load_default_model


def test_default_model_is_small_and_described():
    info = default_model_info()
    assert DEFAULT_MODEL_PATH.stat().st_size <= 5 * 1024 * 1024
    assert info["size_bytes"] == DEFAULT_MODEL_PATH.stat().st_size
    assert info["sha256"] == hashlib.sha256(DEFAULT_MODEL_PATH.read_bytes()).hexdigest()
    for key in ("model", "command", "seed", "epochs", "test_top1", "dataset"):
        assert key in info
    assert info["command"].startswith(f"catdeploy train {info['model']} --data fashion-mnist")


def test_default_model_loads_and_matches_its_record():
    model, meta = load_default_model()
    info = default_model_info()
    for key in ("model", "seed", "epochs", "test_top1", "command", "input_size", "num_classes"):
        assert meta[key] == info[key]
    with torch.no_grad():
        assert model(torch.zeros(2, 3, info["input_size"], info["input_size"])).shape == (2, 10)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="dataset-fashion-mnist not installed")
def test_default_model_test_accuracy_as_recorded():
    from catdeploy.train import evaluate_checkpoint

    info = default_model_info()
    result = evaluate_checkpoint(info["model"], DEFAULT_MODEL_PATH, "fashion-mnist:test",
                                 progress=False)
    assert abs(result["top1"] - info["test_top1"]) <= 0.05  # float rounding may flip an argmax
