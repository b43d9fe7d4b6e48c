"""Model zoo: torchvision classifiers by name (never with downloaded weights) and local weights.

Weights files are loaded with ``torch.load(weights_only=True)``: a plain state dict, or a
checkpoint dict holding it under "state_dict", "model_state_dict" or "model" (ours, written by
``catdeploy train``, is ``{"state_dict": ..., "meta": {...}}``); a ``.safetensors`` file is read
with ``safetensors.torch.load_file`` (tensors only, nothing unpickled).
"""
from __future__ import annotations

import copy
import difflib
import logging
import pickle
import re
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision

from catdeploy.errors import UserError

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")

logger = logging.getLogger(__name__)  # notices (stderr unless the application configures logging)


def classification_model_names() -> list[str]:
    """All torchvision classification builders (``torchvision.models.list_models``)."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def check_model_name(name: str) -> None:
    """UserError naming `name` (and close matches) unless it is a torchvision classifier."""
    names = classification_model_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=4, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; e.g. resnet18, mobilenet_v2"
        from catdeploy.data.timm_models import timm_suggestion

        in_timm = timm_suggestion(name)
        if in_timm:
            hint = f"; timm has it: {in_timm}"
        raise UserError(f"unknown model {name!r} (not a torchvision classification model){hint}")


def build_model(name: str, num_classes: int = 10) -> torch.nn.Module:
    """A freshly initialised torchvision classifier (weights=None) with ``num_classes`` outputs.

    Initialisation draws from torch's global RNG: seed it first for reproducible weights.
    """
    check_model_name(name)
    if num_classes < 1:
        raise UserError(f"num_classes {num_classes}: must be at least 1")
    kwargs: dict[str, Any] = {"weights": None, "num_classes": num_classes}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=True)
    model = torchvision.models.get_model(name, **kwargs)
    model.eval()
    return model


def _unpickling_reason(message: str) -> str:
    """The useful part of torch's long weights-only error message."""
    found = re.search(r"Unsupported global: GLOBAL (\S+)", message)
    if found and found.group(1) == "argparse.Namespace":  # timm's train.py saves its args
        return ("it holds an argparse.Namespace (a training script's args, as timm's train.py saves); "
                "save checkpoint['state_dict'] alone, or use timm's clean_checkpoint.py")
    if found:
        return f"it holds a {found.group(1)} object; only tensors and plain types are allowed"
    found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", message)  # first non-empty line
    reason = found.group(1) if found else (message.strip().splitlines() or ["unpickling failed"])[0]
    return f"corrupt or not a weights file: {reason[:160]}"


def _read_checkpoint(path: Path) -> Any:
    if not path.exists():
        raise UserError(f"--weights {path}: file not found")
    if not path.is_file():
        raise UserError(f"--weights {path}: not a file")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(f"--weights {path}: not loadable with weights_only=True "
                        f"({_unpickling_reason(str(exc))})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError,
            AttributeError, TypeError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--weights {path}: not a readable torch checkpoint, corrupt or truncated "
                        f"({first[:160]})") from None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise UserError(f"--weights {path}: reading .safetensors needs the package safetensors "
                        f"(pip install safetensors, or pip install 'catdeploy[timm]')") from None
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--weights {path}: not a readable safetensors file ({first[:160]})") from None


def _extract_state_dict(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    meta = {}
    if isinstance(obj, Mapping):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), Mapping):
                meta = obj.get("meta") if isinstance(obj.get("meta"), Mapping) else {}
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise UserError(f"--weights {path}: not a state dict (expected a dict of tensors, or a "
                        f"checkpoint with one of {', '.join(STATE_DICT_KEYS)})")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise UserError(f"--weights {path}: not a state dict (entry {key!r} is a "
                            f"{type(value).__name__}, not a tensor)")
    metadata = getattr(obj, "_metadata", None)
    state = OrderedDict(obj)
    if all(key.startswith("module.") for key in state):  # saved from DataParallel
        state = OrderedDict((key[len("module."):], value) for key, value in state.items())
        if metadata is not None:
            metadata = OrderedDict((k[len("module."):] if k.startswith("module.") else
                                    ("" if k == "module" else k), v) for k, v in metadata.items())
    if metadata is not None:
        state._metadata = metadata
    return state, dict(meta)


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, meta) of a weights file; meta is {} for a plain state dict."""
    return _extract_state_dict(_read_checkpoint(Path(path)), Path(path))


# Auxiliary classifier heads that build_model leaves out (they only matter in training).
AUX_HEADS = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}


def drop_aux_heads(state: Mapping[str, torch.Tensor], source: str,
                   architecture: str) -> Mapping[str, torch.Tensor]:
    """``state`` without the keys of the auxiliary heads that build_model leaves out (googlenet's
    aux1 / aux2, inception_v3's AuxLogits: used in training only), with a notice when it had any."""
    heads = AUX_HEADS.get(architecture, ())
    dropped = sorted({key.split(".")[0] for key in state if key.split(".")[0] in heads})
    if not dropped:
        return state
    kept = OrderedDict((k, v) for k, v in state.items() if k.split(".")[0] not in heads)
    if getattr(state, "_metadata", None) is not None:
        kept._metadata = OrderedDict((k, v) for k, v in state._metadata.items() if k.split(".")[0] not in heads)
    logger.warning(f"{source}: dropped the auxiliary-head weights ({', '.join(f'{a}.*' for a in dropped)}); "
                   f"catdeploy builds {architecture} with aux_logits=False (the heads are unused in eval)")
    return kept


def check_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor],
                     source: str, architecture: str) -> None:
    """UserError naming the first missing/unexpected/mis-shaped key or non-finite tensor."""
    expected = model.state_dict()
    aux = sorted({key.split(".")[0] for key in state if key not in expected
                  and key.split(".")[0] in AUX_HEADS.get(architecture, ())})
    if aux:
        raise UserError(f"{source}: the state dict has auxiliary-head keys ({', '.join(f'{a}.*' for a in aux)}); "
                        f"catdeploy builds {architecture} without auxiliary heads (aux_logits=False): "
                        f"drop those keys or save the model built with aux_logits=False")
    for key, target in expected.items():
        if key not in state:
            raise UserError(f"{source}: missing key {key!r} for {architecture} "
                            f"(wrong architecture or num_classes?)")
        if tuple(state[key].shape) != tuple(target.shape):
            raise UserError(f"{source}: key {key!r} has shape {list(state[key].shape)}, "
                            f"{architecture} expects {list(target.shape)}")
    for key in state:
        if key not in expected:
            raise UserError(f"{source}: unexpected key {key!r} for {architecture} "
                            f"(wrong architecture?)")
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise UserError(f"{source}: key {key!r} contains NaN or Inf")


def with_module_versions(state: "OrderedDict[str, torch.Tensor]",
                          model: torch.nn.Module) -> "OrderedDict[str, torch.Tensor]":
    """``state`` with module version metadata: its own if saved, else the model's current ones.

    A state dict re-created as a plain dict loses ``_metadata``; torchvision's MNASNet then
    refuses to load (it needs version 2 to know the weights match its current layout).
    """
    if getattr(state, "_metadata", None) is not None:
        return state
    versioned = OrderedDict(state)
    versioned._metadata = copy.deepcopy(getattr(model.state_dict(), "_metadata", OrderedDict()))
    return versioned


def load_weights(model: torch.nn.Module, path: str | Path,
                 architecture: str | None = None) -> torch.nn.Module:
    """A copy of ``model`` with the weights of ``path`` (the input model is not modified)."""
    return load_weights_and_meta(model, path, architecture)[0]


def load_weights_and_meta(model: torch.nn.Module, path: str | Path,
                          architecture: str | None = None) -> tuple[torch.nn.Module, dict]:
    """(a copy of ``model`` with the weights of ``path``, the checkpoint's meta); one read."""
    state, meta = load_checkpoint(path)
    arch = architecture or type(model).__name__
    check_state_dict(model, state, f"--weights {path}", arch)
    loaded = copy.deepcopy(model)
    loaded.load_state_dict(with_module_versions(state, model), strict=True)
    loaded.eval()
    return loaded, meta


def load_model(name: str, weights: str | Path, num_classes: int | None = None
               ) -> tuple[torch.nn.Module, dict]:
    """Build ``name`` and load ``weights``; returns (model in eval mode, checkpoint meta).

    ``num_classes`` defaults to the checkpoint's meta "num_classes", else 10.
    """
    state, meta = load_checkpoint(weights)
    if meta.get("model") not in (None, name):
        raise UserError(f"--weights {weights}: checkpoint was trained as {meta['model']!r}, "
                        f"not {name!r}")
    if num_classes is None:
        num_classes = int(meta.get("num_classes", 10))
    model = build_model(name, num_classes)
    state = drop_aux_heads(state, f"--weights {weights}", name)
    check_state_dict(model, state, f"--weights {weights}", name)
    model.load_state_dict(with_module_versions(state, model), strict=True)
    model.eval()
    return model, meta
