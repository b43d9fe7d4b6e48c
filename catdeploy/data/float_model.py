"""``load_float_model``: the float torch model a MODEL argument names (torchvision, timm:NAME, or
the user's own)."""
from __future__ import annotations

from pathlib import Path

from catdeploy.data.timm_models import is_timm_model, load_timm_model
from catdeploy.data.user_model import is_user_model, load_user_model
from catdeploy.data.zoo import build_model, check_model_name, load_model


def load_float_model(model: str, weights: str | Path | None, num_classes: int | None = None):
    """(torch model in eval mode, checkpoint meta) for a torchvision name, a timm model
    (``timm:NAME``), or the user's own model (``path/to/model.py:factory`` or
    ``package.module:factory``), and optional weights."""
    if is_timm_model(model):
        return load_timm_model(model, weights, num_classes)
    if is_user_model(model):
        return load_user_model(model, weights)
    check_model_name(model)  # name errors before any file is touched
    if weights is None:
        m = build_model(model, num_classes or 10)
        m.eval()
        return m, {}
    return load_model(model, weights, num_classes)
