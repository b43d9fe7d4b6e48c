"""Reading weights files, shared by the torchvision zoo, timm models, the user's own models and
training: ``torch.load(weights_only=True)`` of a plain state dict or a checkpoint dict holding it
under "state_dict", "model_state_dict" or "model" (ours, written by ``catdeploy train``, is
``{"state_dict": ..., "meta": {...}}``), or a ``.safetensors`` file read with
``safetensors.torch.load_file`` (tensors only, nothing unpickled); and the module-version metadata
a state dict needs to load."""
from __future__ import annotations

import copy
import pickle
import re
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from catdeploy.errors import UserError

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")


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
