"""Multi-stage flows shared by the CLI, the demo and the benchmarks (each step calls catdeploy.api)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from catdeploy import api
from catdeploy.errors import UserError
from catdeploy.quant.quantized_graph import QuantizedGraph, load_quantized_graph
from catdeploy.util_io import atomic_write_bytes, check_output_path


@dataclass
class CalibrateOptions:
    bits: str = "w4a4"
    method: str = "rtn"
    samples: int = 1024
    seed: int = 0
    strict: bool = False
    symmetric_weights: bool = False
    observer: str = "lp"
    input_size: int = 32
    data_root: str | None = None
    weight_overrides: dict = field(default_factory=dict)
    act_overrides: dict = field(default_factory=dict)
    cat: bool = False
    clusters: int | None = None      # None: auto
    alpha: float | None = None       # None: auto
    cat_views: int = 0
    affine_layers: bool = False
    preset: str = "default"          # reconstruction preset: fast, default, paper
    device: str = "cpu"              # reconstruction device: cpu or cuda
    iterations: int | None = None    # reconstruction iterations per unit (None: the preset's)
    convention: str = "default"      # default, paper or strict (strict=True is the same as "strict")


def calibrate_model(model: str, weights: str | None, data: str, opts: CalibrateOptions,
                    log=lambda m: None, progress=None) -> QuantizedGraph:
    """Load a torchvision model (+weights), capture it, plan, and calibrate on `data`'s train split;
    then optionally the in-network affine (--affine-layers) and CAT (--cat), both selected on a
    held-out part of the calibration images."""
    torch_model, meta = api.load_float_model(model, weights)
    input_size = int(meta.get("input_size", opts.input_size))
    graph = api.capture(torch_model, input_size)
    qplan = api.plan(graph, opts.bits, strict=opts.strict, convention=opts.convention, symmetric_weights=opts.symmetric_weights,
                     observer=opts.observer, weight_overrides=opts.weight_overrides,
                     act_overrides=opts.act_overrides)
    if opts.cat_views < 0:
        raise UserError(f"--cat-views {opts.cat_views}: must be at least 0")
    if opts.cat:
        from catdeploy.cat.select import check_clusters

        from catdeploy.lower import classifier_node

        check_clusters(opts.clusters, opts.samples, opts.cat_views)
        classifier_node(graph)  # a model whose logits do not come from a plain FC: say so now
    images, labels = api.calibration_data(data, opts.samples, opts.seed, input_size, opts.data_root)
    if (opts.cat or opts.affine_layers) and len(images) < 8:
        raise UserError(f"--samples {opts.samples}: CAT and --affine-layers need at least 8 calibration images")
    # No timings in meta: the archive (and the manifest) must be byte-identical for equal inputs.
    qg = api.calibrate(graph, qplan, images, method=opts.method, seed=opts.seed, meta={
        "model": model, "weights": str(weights) if weights else None, "data": data,
        "input_size": input_size, "samples": opts.samples,
    }, preset=opts.preset, device=opts.device, iterations=opts.iterations, progress=progress)
    if opts.affine_layers:
        qg = api.apply_affine_layers(qg, images, labels, seed=opts.seed, log=log)
    if opts.cat:
        qg = api.apply_cat(qg, images, labels, clusters=opts.clusters, alpha=opts.alpha, views=opts.cat_views,
                           seed=opts.seed, log=log)
    return qg


def golden_path(out: Path) -> Path:
    """MODEL.golden.npz beside MODEL.tflite."""
    out = Path(out)
    return out.with_name((out.stem if out.suffix == ".tflite" else out.name) + ".golden.npz")


def export_quantized(qg: QuantizedGraph, out: Path, *, io: str = "int8", force: bool = False,
                     source: dict | None = None, int4_weights: bool = False, golden: int = 0) -> dict:
    """Lower + write `out` and `out`.json atomically; returns the manifest. With golden=N also
    MODEL.golden.npz: N seeded int8 inputs and the outputs of every catrt profile for them
    (catrt.golden; checked on a device with `python -m catrt check`)."""
    out = Path(out)
    check_output_path(out, force)
    manifest_path = out.with_name(out.name + ".json")
    if manifest_path.exists() and not force:
        raise UserError(f"{manifest_path}: already exists (pass --force to overwrite)")
    if golden and golden_path(out).exists() and not force:
        raise UserError(f"{golden_path(out)}: already exists (pass --force to overwrite)")
    program = api.lower(qg, io, int4_weights)
    model_bytes = api.export_tflite(program)
    manifest = api.manifest(qg, program, model_bytes, source or {})
    golden_bytes = None
    if golden:
        from catrt import CatrtError
        from catrt.golden import make_golden, npz_bytes

        try:
            golden_bytes = npz_bytes(make_golden(model_bytes, golden))
        except CatrtError as exc:
            raise UserError(f"--golden {golden}: {exc}") from None
        manifest["golden"] = {"path": golden_path(out).name, "samples": int(golden)}
    manifest_bytes = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    atomic_write_bytes(out, model_bytes)
    try:
        atomic_write_bytes(manifest_path, manifest_bytes)
        if golden_bytes is not None:
            atomic_write_bytes(golden_path(out), golden_bytes)
    except BaseException:  # failed or interrupted (Ctrl-C): never leave a model without its manifest
        out.unlink(missing_ok=True)
        raise
    return manifest


def load_model_bytes(path: Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: model file not found")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


# What a malformed (hand-edited, truncated, hostile) .qg archive makes loading or lowering raise.
MALFORMED_ARCHIVE_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError,
                            OverflowError, ZeroDivisionError)


def load_quantized(path: Path) -> QuantizedGraph:
    """Load a user-supplied .qg archive and check it lowers: a file whose JSON or arrays are
    inconsistent is reported as a UserError naming the file, never as a traceback."""
    path = Path(path)
    try:
        qg = load_quantized_graph(path)
        api.lower(qg)  # cheap (milliseconds): every node, value and grid the export needs exists
    except UserError:
        raise
    except MALFORMED_ARCHIVE_ERRORS as exc:
        detail = " ".join(str(exc).split())[:200]
        raise UserError(f"{path}: corrupt or inconsistent quantized graph "
                        f"({type(exc).__name__}: {detail})") from None
    return qg


def eval_images(data: str, samples: int | None, input_size: int = 32, data_root: str | None = None):
    """(images NCHW, labels) of the first `samples` images of the evaluation split (`data`'s test
    split unless a split is named)."""
    from catdeploy.data.datasets import load_dataset

    if samples is not None and samples < 1:
        raise UserError(f"--samples {samples}: must be at least 1")
    ds = load_dataset(data, data_root, input_size=input_size, default_split="test")
    labels = ds.require_labels()
    n = len(ds) if samples is None else min(samples, len(ds))
    return ds.batch(slice(0, n))[0], labels[:n]
