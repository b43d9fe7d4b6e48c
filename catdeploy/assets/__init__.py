"""The embedded default model (used by ``catdeploy demo``): a torchvision mnasnet0_5 trained on
Fashion-MNIST by ``catdeploy train``; how exactly is recorded in default_model.json."""
from __future__ import annotations

import json
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_PATH = ASSETS_DIR / "default_model.pt"
DEFAULT_MODEL_INFO_PATH = ASSETS_DIR / "default_model.json"


def default_model_info() -> dict:
    """The record of how the default model was trained (command, seed, epochs, test top-1, ...)."""
    return json.loads(DEFAULT_MODEL_INFO_PATH.read_text())


def load_default_model():
    """(model in eval mode, checkpoint meta) of the embedded default model."""
    from catdeploy.data.zoo import load_model

    return load_model(default_model_info()["model"], DEFAULT_MODEL_PATH)
