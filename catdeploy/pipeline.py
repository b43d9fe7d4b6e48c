"""Multi-stage flows shared by the CLI, the demo and the benchmarks (each step calls catdeploy.api)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
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
    input_size: str | int | None = None   # H or HxW; None: the checkpoint's, else 32
    grayscale: bool | None = None         # True: 1-channel input (RGB data to luma); None: the checkpoint's, else RGB
    mean: tuple[float, ...] | None = None  # --mean/--std; None: the checkpoint's, else the data's default
    std: tuple[float, ...] | None = None
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
    """Load a torchvision model or the user's own (path/model.py:factory) with its weights, capture
    it, plan, and calibrate on `data`'s train split; then optionally the in-network affine
    (--affine-layers) and CAT (--cat), both selected on a held-out part of the calibration images.
    The preprocessing used (size, channels, the normalisation actually applied) is kept in the
    meta, so that eval / verify of the result preprocess their images alike."""
    from catdeploy.data.preprocess import Normalization, resolve_preprocessing

    torch_model, meta = api.load_float_model(model, weights)
    norm = None if opts.mean is None else Normalization(tuple(opts.mean), tuple(opts.std))
    prep = resolve_preprocessing(meta, opts.input_size, opts.grayscale, norm)
    graph = api.capture(torch_model, (prep.height, prep.width), prep.channels)
    qplan = plan_checks(graph, opts)
    calib = api.calibration_set(data, opts.samples, opts.seed, prep, opts.data_root)
    prep = replace(prep, normalization=calib.normalization)
    # No timings in meta: the archive (and the manifest) must be byte-identical for equal inputs.
    return calibrate_graph(graph, qplan, calib.images, calib.labels, opts, meta={
        "model": model, "weights": str(weights) if weights else None, "data": data,
        "input_size": prep.height if prep.height == prep.width else [prep.height, prep.width],
        "preprocessing": prep.to_dict(), "samples": opts.samples,
    }, log=log, progress=progress)


def plan_checks(graph, opts: CalibrateOptions):
    """The QuantPlan of `graph`, and the option errors that need the captured graph, raised
    before any image is loaded."""
    qplan = make_quant_plan(graph, opts)
    if opts.cat_views < 0:
        raise UserError(f"--cat-views {opts.cat_views}: must be at least 0")
    if opts.cat:
        from catdeploy.cat.select import check_clusters
        from catdeploy.lower import classifier_node

        check_clusters(opts.clusters, opts.samples, opts.cat_views)
        classifier_node(graph)  # a model whose logits do not come from a plain FC: say so now
    return qplan


def make_quant_plan(graph, opts: CalibrateOptions):
    return api.plan(graph, opts.bits, strict=opts.strict, convention=opts.convention,
                    symmetric_weights=opts.symmetric_weights, observer=opts.observer,
                    weight_overrides=opts.weight_overrides, act_overrides=opts.act_overrides)


def calibrate_graph(graph, qplan, images: np.ndarray, labels: np.ndarray | None, opts: CalibrateOptions,
                    meta: dict, log=lambda m: None, progress=None) -> QuantizedGraph:
    """Calibrate (RTN or a reconstruction method) a captured Graph with its plan on preprocessed
    calibration `images`, then the in-network affine and CAT when asked (both selected on a
    held-out part of the images; `labels` may be None)."""
    if (opts.cat or opts.affine_layers) and len(images) < 8:
        raise UserError(f"--samples {len(images)}: CAT and --affine-layers need at least 8 calibration images")
    qg = api.calibrate(graph, qplan, images, method=opts.method, seed=opts.seed, meta=meta,
                       preset=opts.preset, device=opts.device, iterations=opts.iterations, progress=progress)
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
                     source: dict | None = None, int4_weights: bool = False, int2_weights: bool = False,
                     golden: int = 0) -> dict:
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
    program = api.lower(qg, io, int4_weights, int2_weights)
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


def export_float(model: str, weights: str | None, out: Path, *, data: str | None = None,
                 input_size: str | int | None = None, grayscale: bool | None = None,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                 data_root: str | None = None, force: bool = False) -> dict:
    """`export --bits fp32`: the captured float model as a float32 TFLite graph (no calibration),
    written with its manifest atomically; returns the manifest. The preprocessing (size, channels,
    normalisation: --mean/--std, the checkpoint's, or `data`'s default) is recorded for eval."""
    from catdeploy.data.preprocess import Normalization, resolve_preprocessing
    from catdeploy.lower.float_program import lower_float

    out = Path(out)
    check_output_path(out, force)
    manifest_path = out.with_name(out.name + ".json")
    if manifest_path.exists() and not force:
        raise UserError(f"{manifest_path}: already exists (pass --force to overwrite)")
    torch_model, meta = api.load_float_model(model, weights)
    norm = None if mean is None else Normalization(tuple(mean), tuple(std))
    prep = resolve_preprocessing(meta, input_size, grayscale, norm)
    graph = api.capture(torch_model, (prep.height, prep.width), prep.channels)
    if prep.normalization is None and data is not None:
        prep = replace(prep, normalization=api.calibration_set(data, 1, 0, prep, data_root).normalization)
    program = lower_float(graph)
    model_bytes = api.export_tflite(program)
    manifest = {
        "format": "catdeploy.tflite_manifest", "version": 1,
        "sha256": hashlib.sha256(model_bytes).hexdigest(), "size_bytes": len(model_bytes),
        "setting": "fp32", "method": None, "extra_clamp_ops": 0,
        "calibration": {"model": model, "weights": str(weights) if weights else None, "data": data,
                        "input_size": prep.height if prep.height == prep.width else [prep.height, prep.width],
                        "preprocessing": prep.to_dict(), "samples": 0},
        "inputs": list(program.inputs), "outputs": list(program.outputs),
        "tensors": {t.name: {"dtype": t.dtype, "shape": list(t.shape)} for t in program.tensors.values()},
        "source": {"model": model, "weights": weights, "data": data}, "versions": api.versions(),
    }
    atomic_write_bytes(out, model_bytes)
    try:
        atomic_write_bytes(manifest_path, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    except BaseException:
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


def _eval_dataset(data: str, samples: int | None, input_size, data_root: str | None, prep):
    """(Dataset, labels, n) of the first `samples` images of the evaluation split."""
    from catdeploy.data.datasets import load_dataset
    from catdeploy.data.preprocess import Preprocessing, parse_input_size

    if samples is not None and samples < 1:
        raise UserError(f"--samples {samples}: must be at least 1")
    prep = prep or Preprocessing(*parse_input_size(input_size))
    ds = load_dataset(data, data_root, input_size=(prep.height, prep.width), default_split="test",
                      normalization=prep.normalization, channels=prep.channels)
    labels = ds.require_labels()
    n = len(ds) if samples is None else min(samples, len(ds))
    return ds, labels, n


def eval_images(data: str, samples: int | None, input_size: int | tuple[int, int] = 32,
                data_root: str | None = None, prep=None):
    """(images NCHW, labels) of the first `samples` images of the evaluation split (`data`'s test
    split unless a split is named), preprocessed by `prep` (a Preprocessing: what calibration
    recorded) or else at `input_size` with the data's default normalisation."""
    ds, labels, n = _eval_dataset(data, samples, input_size, data_root, prep)
    return ds.batch(slice(0, n))[0], labels[:n]


EVAL_CHUNK_BYTES = 512 * 2**20   # images preprocessed at a time by eval_chunks
EVAL_BATCH = 256                 # rows per interpreter / catrt invoke in eval


def eval_chunks(data: str, samples: int | None, input_size: int | tuple[int, int] = 32,
                data_root: str | None = None, prep=None, chunk_bytes: int = EVAL_CHUNK_BYTES):
    """eval_images a chunk at a time: (images, labels) of at most `chunk_bytes` of images, a
    multiple of EVAL_BATCH images, so that running each chunk in batches of EVAL_BATCH invokes the
    same batches as running all images at once (10 000 test images at 224 x 224 are 6 GB)."""
    ds, labels, n = _eval_dataset(data, samples, input_size, data_root, prep)
    h, w = ds.input_size
    per_image = 4 * ds.channels * h * w
    step = max(EVAL_BATCH, chunk_bytes // per_image // EVAL_BATCH * EVAL_BATCH)
    for start in range(0, n, step):
        stop = min(n, start + step)
        yield ds.batch(slice(start, stop))[0], labels[start:stop]


def preprocessing_for_model(path: Path, model_bytes: bytes | None = None, qg: QuantizedGraph | None = None):
    """How to preprocess images for an exported model: a .qg's recorded Preprocessing; for a
    .tflite the one recorded in its manifest (MODEL.tflite.json) when present, else its input
    tensor's size and channels with the data's default normalisation."""
    from catdeploy.data.preprocess import Preprocessing, preprocessing_from_meta

    if qg is not None:
        return preprocessing_from_meta(qg.meta)
    path = Path(path)
    manifest_path = path.with_name(path.name + ".json")
    if manifest_path.is_file():
        try:
            calibration = json.loads(manifest_path.read_text()).get("calibration") or {}
        except (ValueError, AttributeError):
            calibration = {}
        if isinstance(calibration, dict) and "preprocessing" in calibration:
            try:
                return preprocessing_from_meta(calibration)
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{manifest_path}: unreadable preprocessing entry") from None
    if model_bytes is not None:
        from catrt import CatrtError

        try:
            shape = api.model_io(model_bytes).input_shape
        except (CatrtError, UserError):  # not readable as a model: the caller's own check reports it
            return Preprocessing()
        if len(shape) == 4 and shape[3] in (1, 3):  # NHWC
            return Preprocessing(int(shape[1]), int(shape[2]), int(shape[3]))
    return Preprocessing()
