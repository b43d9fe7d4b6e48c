"""timm (PyTorch Image Models) as a model source: ``timm:NAME``, never with downloaded weights.

    timm:resnet18d                ``timm.create_model("resnet18d", pretrained=False, num_classes=N,
                                  in_chans=C)``; a pretrained tag (``timm:resnet18d.ra2_in1k``) is
                                  accepted and ignored (nothing is downloaded)

Weights come from ``--weights``: a state dict, a timm checkpoint (``{"state_dict": ...}`` /
``{"model": ...}``), catdeploy's own ``catdeploy train`` checkpoint (all read with
``torch.load(weights_only=True)`` by catdeploy.data.zoo), or a ``.safetensors`` file. The number
of classes N and the input channels C come from the checkpoint's meta, else from the shapes of the
classifier and first convolution in the weights (timm's ``pretrained_cfg`` names them), else 10
and 3. timm is an optional dependency (``pip install 'catdeploy[timm]'``).
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

import torch

from catdeploy.errors import UserError

PREFIX = "timm:"
INSTALL_HINT = "pip install 'catdeploy[timm]'"


def is_timm_model(spec) -> bool:
    """True for ``timm:NAME``."""
    return str(spec).startswith(PREFIX)


def timm_name(spec: str) -> str:
    """NAME of ``timm:NAME``."""
    return str(spec)[len(PREFIX):]


def _timm():
    try:
        import timm
    except ImportError:
        raise UserError(f"timm:NAME needs the optional dependency timm: {INSTALL_HINT}") from None
    return timm


def check_timm_name(spec: str) -> None:
    """UserError unless ``spec`` is ``timm:NAME`` with NAME a timm architecture (close names suggested)."""
    name = timm_name(spec)
    timm = _timm()
    if not name:
        raise UserError(f"model {spec}: name a timm architecture after 'timm:', e.g. timm:resnet18d")
    if timm.is_model(name):
        return
    names = timm.list_models()
    close = difflib.get_close_matches(name.split(".")[0], names, n=4, cutoff=0.6)
    hint = (f"; did you mean {', '.join(PREFIX + c for c in close)}?" if close
            else "; list them with python -c 'import timm; print(timm.list_models())'")
    raise UserError(f"unknown model {spec!r} (not a timm {timm.__version__} architecture){hint}")


def timm_suggestion(name: str) -> str | None:
    """``timm:NAME`` when ``name`` (given without the prefix) is a timm architecture and timm is
    installed, else None: the hint for an unknown torchvision name."""
    try:
        import timm
    except ImportError:
        return None
    return PREFIX + name if name and timm.is_model(name) else None


def build_timm_model(spec: str, num_classes: int = 10, in_chans: int = 3) -> torch.nn.Module:
    """A freshly initialised timm model (pretrained=False, eval mode) with ``num_classes`` outputs
    and ``in_chans`` input channels. Initialisation draws from torch's global RNG."""
    check_timm_name(spec)
    if num_classes < 1:
        raise UserError(f"num_classes {num_classes}: must be at least 1")
    if in_chans not in (1, 3):
        raise UserError(f"model {spec}: {in_chans} input channels; catdeploy feeds 1 (--grayscale) or 3")
    try:
        architecture = timm_name(spec).partition(".")[0]  # a pretrained tag means nothing without download
        model = _timm().create_model(architecture, pretrained=False, num_classes=num_classes,
                                     in_chans=in_chans)
    except Exception as exc:  # a model that cannot be built this way: name it, no traceback
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise UserError(f"model {spec}: timm.create_model failed ({type(exc).__name__}: {first[:160]})") from None
    model.eval()
    return model


def _config_keys(model: torch.nn.Module, field: str) -> tuple[str, ...]:
    """The module names timm's pretrained_cfg gives for ``field`` ("classifier", "first_conv")."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    value = cfg.get(field)
    if isinstance(value, str):
        return (value,)
    return tuple(v for v in value or () if isinstance(v, str))


def _shape_in_weights(state: Mapping[str, torch.Tensor], modules: tuple[str, ...], dim: int) -> int | None:
    for module in modules:
        weight = state.get(f"{module}.weight")
        if isinstance(weight, torch.Tensor) and weight.dim() > dim:
            return int(weight.shape[dim])
    return None


def _keys(keys: list[str], limit: int = 2) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", +{len(keys) - limit}" if len(keys) > limit else "")


def check_fit(model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str, spec: str,
              num_classes: int, in_chans: int) -> None:
    """UserError summarising in one line every missing, unexpected and mis-shaped key (first few
    of each), or naming a non-finite tensor."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {list(state[k].shape)} vs {list(v.shape)}" for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    parts = [f"{len(missing)} missing ({_keys(missing)})" if missing else "",
             f"{len(unexpected)} unexpected ({_keys(unexpected)})" if unexpected else "",
             f"{len(shapes)} mis-shaped ({_keys(shapes, 1)})" if shapes else ""]
    parts = [p for p in parts if p]
    if parts:
        raise UserError(f"{source}: the weights do not fit {spec} (num_classes={num_classes}, "
                        f"in_chans={in_chans}): keys {', '.join(parts)} (wrong architecture?)")
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise UserError(f"{source}: key {key!r} contains NaN or Inf")


def _meta_channels(meta: Mapping) -> int | None:
    prep = meta.get("preprocessing")
    if isinstance(prep, Mapping) and "channels" in prep:
        return int(prep["channels"])
    return int(meta["channels"]) if "channels" in meta else None


def load_timm_model(spec: str, weights: str | Path | None, num_classes: int | None = None,
                    in_chans: int | None = None) -> tuple[torch.nn.Module, dict]:
    """(timm model in eval mode with ``weights`` loaded, checkpoint meta with "num_classes" and
    "channels" filled in from the weights when the checkpoint does not record them)."""
    from catdeploy.data.checkpoints import load_checkpoint, with_module_versions

    check_timm_name(spec)  # name errors before any file is touched
    if weights is None:
        model = build_timm_model(spec, num_classes or 10, in_chans or 3)
        return model, {}
    state, meta = load_checkpoint(weights)
    if meta.get("model") not in (None, spec):
        raise UserError(f"--weights {weights}: checkpoint was trained as {meta['model']!r}, not {spec!r}")
    probe = build_timm_model(spec, 10, 3)  # only for the names of its classifier and first conv
    if num_classes is None:
        num_classes = (int(meta["num_classes"]) if "num_classes" in meta
                       else _shape_in_weights(state, _config_keys(probe, "classifier"), 0) or 10)
    if in_chans is None:
        in_chans = _meta_channels(meta) or _shape_in_weights(state, _config_keys(probe, "first_conv"), 1) or 3
    model = probe if (num_classes, in_chans) == (10, 3) else build_timm_model(spec, num_classes, in_chans)
    check_fit(model, state, f"--weights {weights}", spec, num_classes, in_chans)
    model.load_state_dict(with_module_versions(state, model), strict=True)
    model.eval()
    return model, {"num_classes": num_classes, "channels": in_chans, **meta}
