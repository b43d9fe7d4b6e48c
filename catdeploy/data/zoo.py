"""Model zoo: torchvision classifiers by name (never with downloaded weights) and local weights
(read by catdeploy.data.checkpoints)."""
from __future__ import annotations

import copy
import difflib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision

from catdeploy.data.checkpoints import load_checkpoint, with_module_versions
from catdeploy.errors import UserError


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
