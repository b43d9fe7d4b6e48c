"""Models that are not torchvision names: the user's own nn.Module from a factory they name.

    path/to/model.py:factory     a Python file (loaded because the user named it) and a callable in it
    package.module:factory       an importable module (on sys.path / PYTHONPATH) and a callable in it

    path/to/model.pt2            a torch.export ExportedProgram (torch.export.save), weights included

The callable (a function or an nn.Module class) is called without arguments and must return an
nn.Module; weights come from ``--weights`` (``torch.load(weights_only=True)``) as for torchvision
models. A .pt2 program holds its own weights; it is read without unpickling anything but tensors
and raised to modules and torch functions by catdeploy.capture.exported.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from pathlib import Path

import torch
from catrt.archive import MAX_MODEL_PARAMETERS, GiB, ArchiveError, ArchiveLimits, verify_members

from catdeploy.errors import UserError

_DOTTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")  # pkg.module, Factory.build


def is_user_model(spec: str) -> bool:
    """True for ``file.py:factory``, ``package.module:factory`` and ``.pt2`` references
    (not for ``timm:NAME``: catdeploy.data.timm_models builds those)."""
    from catdeploy.data.timm_models import is_timm_model

    text = str(spec)
    if text.endswith(".pt2"):
        return True
    if is_timm_model(text):
        return False
    source, sep, factory = text.rpartition(":")
    return bool(sep and source and factory) and (source.endswith(".py") or bool(_DOTTED_NAME.match(source)))


def _import_file(path: Path):
    """Import the user's file under a name derived from its absolute path (so that two files called
    model.py do not collide); registered in sys.modules so that deepcopy / fx can find its classes."""
    resolved = path.resolve()
    name = "catdeploy_user_" + hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UserError(f"{path}: cannot be loaded as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[name]
        raise UserError(f"{path}:{exc.lineno}: syntax error ({exc.msg})") from None
    except Exception as exc:
        del sys.modules[name]
        raise UserError(f"{path}: importing it raised {type(exc).__name__}: {_first_line(exc)}") from None
    return module


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise UserError(f"model {name}: module not found ({_first_line(exc)}); "
                        f"put it on PYTHONPATH or name a file, e.g. path/to/model.py:factory") from None
    except Exception as exc:
        raise UserError(f"model {name}: importing it raised {type(exc).__name__}: {_first_line(exc)}") from None


# What a .pt2 may hold (docs/RELIABILITY.md). torch.export.save stores every parameter and buffer
# as one uncompressed member plus a few JSON members (mnasnet0_5: 323 members): float32 weights of
# at most MAX_MODEL_PARAMETERS (2.8 GB), the largest tensor 103 M elements (vgg, 412 MB).
PT2_LIMITS = ArchiveLimits(label="torch.export archive", max_members=65_536, max_member_bytes=2 * GiB,
                           max_total_bytes=4 * MAX_MODEL_PARAMETERS + 1 * GiB)


def check_pt2_archive(path: str | Path) -> None:
    """Refuse a .pt2 whose zip members are over PT2_LIMITS (count, declared sizes, total, ratio,
    and the actual inflated size of every compressed member) before torch reads it: torch's zip
    reader trusts the sizes the archive declares. A missing file or one that is no zip archive is
    left to the loader, which names those cases."""
    import zipfile

    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return
    try:
        verify_members(path, PT2_LIMITS)
    except ArchiveError as exc:
        raise UserError(f"model {path}: {exc}") from None
    except OSError as exc:
        raise UserError(f"model {path}: cannot read ({exc.strerror})") from None


def build_user_model(spec: str) -> torch.nn.Module:
    """The nn.Module (eval mode) that ``spec``'s factory returns; UserError naming the culprit."""
    text = str(spec)
    if text.endswith(".pt2"):
        from catdeploy.capture.exported import load_exported_model

        check_pt2_archive(text)
        return load_exported_model(text)
    source, _, factory = text.rpartition(":")
    if not _DOTTED_NAME.match(factory):
        raise UserError(f"model {text}: {factory!r} is not a Python name (expected FILE.py:FACTORY)")
    if source.endswith(".py"):
        path = Path(source)
        if not path.is_file():
            raise UserError(f"model {text}: {path} not found")
        module = _import_file(path)
    else:
        module = _import_module(source)
    obj = module
    for part in factory.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))
            raise UserError(f"model {text}: {source} has no {factory!r} (callables: {', '.join(names) or 'none'})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UserError(f"model {text}: {factory!r} is not callable")
    try:
        model = obj()
    except Exception as exc:
        raise UserError(f"model {text}: {factory}() raised {type(exc).__name__}: {_first_line(exc)}") from None
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"model {text}: {factory}() returned {type(model).__name__}, not a torch.nn.Module")
    model.eval()
    return model


def load_user_model(spec: str, weights: str | Path | None) -> tuple[torch.nn.Module, dict]:
    """(model with ``weights`` loaded, checkpoint meta); without weights the factory's own init."""
    from catdeploy.data.zoo import load_weights_and_meta

    if str(spec).endswith(".pt2") and weights is not None:
        raise UserError(f"--weights {weights}: model {spec} is a torch.export program that holds its own "
                        f"weights; drop --weights")
    model = build_user_model(spec)
    if str(spec).endswith(".pt2"):  # the program's example input fixes the input size and channels
        return model, {"input_size": list(model.input_shape[2:]), "channels": model.input_shape[1]}
    if weights is None:
        return model, {}
    return load_weights_and_meta(model, weights, architecture=str(spec))


def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return "(no message)"
