"""Which models a run folder holds: its .qg archives and the .tflite files no .qg already covers."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from catdeploy.errors import UserError


@dataclass
class RunModel:
    """One model of the report: a .qg (with the .tflite files exported from it) or a lone .tflite."""

    path: Path
    model_bytes: bytes
    qg: object | None = None          # QuantizedGraph for a .qg
    manifest: dict | None = None      # MODEL.tflite.json, or the one a .qg's export would write
    covers: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def read_manifest(tflite: Path) -> dict | None:
    """MODEL.tflite.json beside `tflite`, or None when absent; a malformed one is a UserError."""
    path = tflite.with_name(tflite.name + ".json")
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: not a manifest (expected a JSON object)")
    return manifest


def _normalised(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def covered_by(manifest: dict | None, model_bytes: bytes, qg, qg_bytes: bytes) -> bool:
    """True when a .tflite (its bytes and manifest) is an export of `qg`: the same bytes, or a
    manifest whose "calibration" entry and setting are the .qg's meta and setting."""
    if hashlib.sha256(model_bytes).digest() == hashlib.sha256(qg_bytes).digest():
        return True
    if not manifest or not isinstance(manifest.get("calibration"), dict):
        return False
    return (manifest.get("setting") == qg.plan.setting
            and _normalised(manifest["calibration"]) == _normalised(dict(qg.meta)))


def discover(run_dir: Path) -> list[RunModel]:
    """The run's models in file-name order: every .qg, then every .tflite not covered by one."""
    from catdeploy.export.manifest import tflite_manifest
    from catdeploy.integer import lowered
    from catdeploy.pipeline import load_model_bytes, load_quantized

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a folder")
    qg_paths = sorted(p for p in run_dir.glob("*.qg") if p.is_file())
    tflite_paths = sorted(p for p in run_dir.glob("*.tflite") if p.is_file())
    if not qg_paths and not tflite_paths:
        raise UserError(f"{run_dir}: no .qg or .tflite files in this folder")
    models = []
    for path in qg_paths:
        qg = load_quantized(path)
        program, model_bytes = lowered(qg)
        manifest = tflite_manifest(qg, program, model_bytes, {"qg": path.name})
        models.append(RunModel(path, model_bytes, qg, manifest))
    for path in tflite_paths:
        model_bytes = load_model_bytes(path)
        manifest = read_manifest(path)
        owner = next((m for m in models if m.qg is not None
                      and covered_by(manifest, model_bytes, m.qg, m.model_bytes)), None)
        if owner is not None:
            owner.covers.append(path.name)
        else:
            models.append(RunModel(path, model_bytes, None, manifest))
    return models
