"""Multi-stage flows shared by the CLI, the demo and the benchmarks (each step calls catdeploy.api)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from catdeploy import api
from catdeploy.cat.options import NO_CAT, CatOptions
from catdeploy.data.preprocess import Normalization, parse_input_size
from catdeploy.errors import UserError
from catdeploy.export.manifest import tflite_manifest, versions
from catdeploy.integer import EVAL_BATCH, lowered, model_io
from catdeploy.lower import lower
from catdeploy.lower.options import DEFAULT_LOWERING, LoweringOptions
from catdeploy.quant.options import CalibrationOptions, plan_for
from catdeploy.quant.quantized_graph import QuantizedGraph, load_quantized_graph
from catdeploy.util_io import atomic_write_bytes, check_output_path


@dataclass(frozen=True)
class InputOptions:
    """How the CLI's flows load images: the size, channels and normalisation the user asked for
    (None: the checkpoint's, else the defaults: 32 x 32, RGB, the data's own statistics) and where
    the datasets live."""

    input_size: str | int | None = None    # H or HxW
    grayscale: bool | None = None          # True: 1-channel input (RGB data to luma)
    normalization: Normalization | None = None   # --mean / --std
    data_root: str | None = None

    def __post_init__(self) -> None:
        if self.input_size is not None:
            parse_input_size(self.input_size)
        norm = self.normalization
        if norm is not None and self.grayscale and len(norm.mean) != 1:
            raise UserError(f"--grayscale takes one --mean/--std value, got {len(norm.mean)}")

    def preprocessing(self, meta: dict):
        """What these options say over what `meta` (the checkpoint's) recorded, over the defaults."""
        from catdeploy.data.preprocess import resolve_preprocessing

        return resolve_preprocessing(meta, self.input_size, self.grayscale, self.normalization)


def calibration_set(data: str, samples: int | None, seed: int, prep, data_root: str | None = None,
                    log=lambda m: None):
    """The calibration Dataset: `samples` images drawn with `seed` from the TRAIN split of `data`
    (None: the default count, or every image of smaller data, said in a `log` line),
    preprocessed by `prep` (a Preprocessing); its .normalization is the one actually used (the
    data's own statistics when `prep` names none): record it so evaluation preprocesses alike."""
    from catdeploy.data.datasets import has_splits, load_dataset, with_split
    from catdeploy.data.splits import DEFAULT_CALIBRATION_SAMPLES, calibration_subset

    spec = with_split(data, "train") if has_splits(data) and ":" not in data else data
    ds = load_dataset(spec, data_root, input_size=(prep.height, prep.width), default_split="train",
                      normalization=prep.normalization, channels=prep.channels)
    if samples is None and len(ds) < DEFAULT_CALIBRATION_SAMPLES:
        log(f"--samples: {data} has {len(ds)} images, fewer than the default {DEFAULT_CALIBRATION_SAMPLES}: "
            f"calibrating on all {len(ds)}")
    return calibration_subset(ds, samples, seed)


def calibration_data(data: str, samples: int | None, seed: int, input_size: int | tuple[int, int] = 32,
                     data_root: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(images, labels or None) of the calibration draw at `input_size` with the data's own
    normalisation: the images `calibrate` draws with the same samples and seed."""
    from catdeploy.data.preprocess import Preprocessing

    sub = calibration_set(data, samples, seed, Preprocessing(*parse_input_size(input_size)), data_root)
    return sub.images, sub.labels


def calibrate_model(model: str, weights: str | None, data: str, calibration: CalibrationOptions,
                    cat: CatOptions = NO_CAT, inputs: InputOptions = InputOptions(),
                    log=lambda m: None, progress=None) -> QuantizedGraph:
    """Load a torchvision model or the user's own (path/model.py:factory) with its weights, capture
    it, plan, and calibrate on `data`'s train split; then optionally the in-network affine
    (--affine-layers) and CAT (--cat), both selected on a held-out part of the calibration images.
    The preprocessing used (size, channels, the normalisation actually applied) is kept in the
    meta, so that eval / verify of the result preprocess their images alike."""
    torch_model, meta = api.load_float_model(model, weights)
    prep = inputs.preprocessing(meta)
    graph = api.capture(torch_model, (prep.height, prep.width), prep.channels)
    qplan = plan_checks(graph, calibration, cat)
    calib = calibration_set(data, calibration.samples, calibration.seed, prep, inputs.data_root, log=log)
    held_out = held_out_set(data, calibration, prep, inputs.data_root, len(calib)) if calibration.mixed else None
    prep = replace(prep, normalization=calib.normalization)
    cat_images = None
    if cat.enabled or cat.affine_layers:
        skip = len(calib) + (len(held_out[1]) if held_out is not None else 0)
        cat_images = cat_image_source(data, cat, prep, inputs.data_root, calibration.seed, skip, log)
    # No timings in meta: the archive (and the manifest) must be byte-identical for equal inputs.
    return calibrate_graph(graph, qplan, calib.images, calib.labels, calibration, cat, meta={
        "model": model, "weights": str(weights) if weights else None, "data": data,
        "input_size": prep.height if prep.height == prep.width else [prep.height, prep.width],
        "preprocessing": prep.to_dict(), "samples": len(calib),
    }, log=log, progress=progress, held_out=held_out, cat_images=cat_images)


CAT_CHUNK_IMAGES = 512   # CAT images preprocessed and run at a time


def cat_image_source(data: str, cat: CatOptions, prep, data_root: str | None, seed: int, skip: int,
                     log=lambda m: None):
    """A callable giving the CAT images as chunks of (images, labels): `cat.samples` train images
    of the calibration's seeded permutation after its first `skip` (the calibration draw and mixed
    precision's held-out images), or all of them for `--cat-samples all`. Where fewer remain than
    asked, the last `cat.samples` of the permutation are taken, calibration images included, and
    the log says so."""
    from catdeploy.data.datasets import has_splits, load_dataset, with_split

    spec = with_split(data, "train") if has_splits(data) and ":" not in data else data
    ds = load_dataset(spec, data_root, input_size=(prep.height, prep.width), default_split="train",
                      normalization=prep.normalization, channels=prep.channels)
    order = np.random.default_rng(seed).permutation(len(ds))
    wanted = len(ds) - skip if cat.samples is None else cat.samples
    chosen = order[skip:skip + wanted]
    short = len(chosen) < wanted or len(chosen) < 16
    if short:
        chosen = order[-min(max(wanted, 16), len(ds)):]
    if cat.enabled:
        from catdeploy.cat.select import check_clusters

        check_clusters(cat.clusters, len(chosen), cat.views, cat.folds)
    if short:
        log(f"CAT: {data} has {max(len(ds) - skip, 0)} train images beyond the {skip} calibration images; "
            f"the CAT images include calibration images ({len(chosen)} in all)")
    chosen = np.sort(chosen).astype(np.int64)

    def chunks():
        for start in range(0, len(chosen), CAT_CHUNK_IMAGES):
            yield ds.batch(chosen[start:start + CAT_CHUNK_IMAGES])

    return chunks


def held_out_set(data: str, calibration: CalibrationOptions, prep, data_root: str | None, calibration_count: int):
    """(images, labels) of `calibration.held_out` train images that the calibration draw did not
    take (the next ones of the same seeded permutation): what mixed precision selects on."""
    from catdeploy.data.datasets import has_splits, load_dataset, with_split

    spec = with_split(data, "train") if has_splits(data) and ":" not in data else data
    ds = load_dataset(spec, data_root, input_size=(prep.height, prep.width), default_split="train",
                      normalization=prep.normalization, channels=prep.channels)
    order = np.random.default_rng(calibration.seed).permutation(len(ds))
    chosen = order[calibration_count:calibration_count + calibration.held_out]
    if len(chosen) < 64:
        raise UserError(f"--bits {calibration.bits}: {data} has {len(ds)} images; mixed precision needs 64 "
                        f"held-out images beyond the {calibration_count} calibration images")
    sub = ds.subset(np.sort(chosen).astype(np.int64))
    return sub.images, sub.require_labels()


def plan_checks(graph, calibration: CalibrationOptions, cat: CatOptions = NO_CAT):
    """The QuantPlan of `graph`, and the option errors that need the captured graph, raised
    before any image is loaded."""
    if calibration.mixed:  # widths are chosen later: check the convention with every layer at 8 bit
        from catdeploy.mixed.budget import budget_layers

        budget_layers(graph, calibration)
        qplan = plan_for(graph, replace(calibration, bits="w8a8", max_drop=None))
    else:
        qplan = plan_for(graph, calibration)
    if cat.enabled:
        from catdeploy.cat.select import check_clusters
        from catdeploy.lower import classifier_node

        if cat.samples is not None:
            check_clusters(cat.clusters, cat.samples, cat.views, cat.folds)
        classifier_node(graph)  # a model whose logits do not come from a plain FC: say so now
    return qplan


def calibrate_graph(graph, qplan, images: np.ndarray, labels: np.ndarray | None, calibration: CalibrationOptions,
                    cat: CatOptions = NO_CAT, meta: dict | None = None, log=lambda m: None,
                    progress=None, held_out: tuple[np.ndarray, np.ndarray] | None = None,
                    cat_images=None) -> QuantizedGraph:
    """Calibrate (RTN or a reconstruction method) a captured Graph with its plan on preprocessed
    calibration `images`, then the in-network affine and CAT when asked, both fitted and selected
    on the CAT images: `cat_images()` gives them as chunks of (images, labels) (cat_image_source);
    None: the calibration images (and `labels`, which may be None). With `--bits auto...` the
    widths are chosen first (catdeploy/mixed) on `held_out` (images, labels), by default a
    quarter of the labelled calibration images set aside."""
    if (cat.enabled or cat.affine_layers) and cat_images is None and len(images) < 8:
        raise UserError(f"--samples {len(images)}: CAT and --affine-layers need at least 8 calibration images")
    choice = None
    if calibration.mixed:
        if held_out is None:
            images, labels, held_out = _set_aside(images, labels, calibration)
        calibration, choice, held = choose_mixed_precision(graph, calibration, images, held_out, log)
        qplan = plan_for(graph, calibration)
        meta = {**(meta or {}), "mixed_precision": choice.to_dict()}
    qg = api.calibrate(graph, qplan, images, calibration, meta=meta, progress=progress)
    if choice is not None and calibration.method != "rtn":
        qg, choice = _scored_after_reconstruction(qg, choice, calibration.method, held)
        log(f"mixed precision: {choice.notes[-1]}")
    if cat_images is None:
        cat_images = lambda: [(images, labels)]  # noqa: E731
    if cat.affine_layers:
        qg = api.apply_affine_layers(qg, cat_images(), None, cat, log=log)
    if cat.enabled:
        qg = api.apply_cat(qg, cat_images(), None, cat, log=log)
    if choice is not None:
        qg = replace(qg, plan=replace(qg.plan, setting=choice.request))
    return qg


def _scored_after_reconstruction(qg: QuantizedGraph, choice, method: str, held):
    """(qg, choice) with the held-out score of the reconstructed program (the search ranked RTN
    grids with the reconstruction credit; this is what `method` actually gave, on the same
    held-out images and FP logits, `held`)."""
    from dataclasses import replace as replace_record

    from catdeploy.mixed.sensitivity import held_out_score

    score = held_out_score(qg, held)
    kept = replace_record(choice, held_out=score, notes=choice.notes + (
        f"after {method}: held-out top-1 {score['top1']:.2f} %, KL {score['kl']:.4f}",))
    return replace(qg, meta={**qg.meta, "mixed_precision": kept.to_dict()}), kept


def _set_aside(images: np.ndarray, labels: np.ndarray | None, calibration: CalibrationOptions):
    """(calibration images, labels, held-out (images, labels)): a quarter of labelled calibration
    images set aside for mixed precision's selection."""
    from catdeploy.data.splits import held_out_split

    if labels is None:
        raise UserError(f"--bits {calibration.bits}: mixed precision selects on labelled held-out images; "
                        "the calibration images have no labels")
    kept, held = held_out_split(np.arange(len(images)), 0.25, calibration.seed)
    if len(held) < 64:
        raise UserError(f"--bits {calibration.bits}: {len(images)} calibration images; mixed precision sets a "
                        "quarter aside and needs at least 64 held-out images (give 256 or more)")
    return images[kept], labels[kept], (images[held], labels[held])


def width_scorer(graph, calibration: CalibrationOptions, images: np.ndarray,
                 held_out: tuple[np.ndarray, np.ndarray]):
    """The WidthScorer of mixed precision and sensitivity: RTN grids of the float samples of the
    calibration `images` (searched once per tensor and width), scored on the held-out (images, labels)."""
    from catdeploy.integer.inputs import iterate_batches
    from catdeploy.ir.execute import float_logits_function, float_values
    from catdeploy.mixed.sensitivity import HeldOut, WidthScorer
    from catdeploy.quant.calibrate_rtn import GridCache, collect_activation_samples

    samples = collect_activation_samples(graph, iterate_batches(images, calibration.batch_size), calibration.seed,
                                         float_values)
    held_images, held_labels = held_out
    held = HeldOut(held_images, np.asarray(held_labels), float_logits_function(graph)(held_images))
    return WidthScorer(GridCache(graph, samples), calibration, held)


def choose_mixed_precision(graph, calibration: CalibrationOptions, images: np.ndarray,
                           held_out: tuple[np.ndarray, np.ndarray], log=lambda m: None):
    """(the calibration record with the chosen per-layer widths, the MixedChoice, the HeldOut
    images / labels / FP logits it was scored on) for `--bits auto:wXaY` / `--bits auto
    --max-drop P` (catdeploy/mixed/search.py)."""
    from catdeploy.mixed.budget import budget_layers, options_for, widest_candidate_at_most
    from catdeploy.mixed.search import choose_widths
    from catdeploy.quant.auto_bits import parse_auto

    auto = parse_auto(calibration.bits, calibration.max_drop)
    layers = budget_layers(graph, calibration)
    scorer = width_scorer(graph, calibration, images, held_out)
    choice = choose_widths(scorer, layers, auto, progress=log, reconstructed=calibration.method != "rtn")
    for note in choice.notes:
        log(f"mixed precision: {note}")
    floor = (8, 8) if auto.max_drop is not None else (widest_candidate_at_most(auto.weight_bits),
                                                       widest_candidate_at_most(auto.act_bits))
    return options_for(calibration, choice.widths, floor), choice, scorer.held


def sensitivity_analysis(model: str, weights: str | None, data: str, calibration: CalibrationOptions,
                         inputs: InputOptions = InputOptions(), sqnr_images: int = 64,
                         log=lambda m: None) -> dict:
    """Per-layer sensitivity of `model` at `calibration.bits` (catdeploy/mixed/sensitivity.py):
    damage and recovery of every tensor of the budget on held-out train images (beyond the
    calibration draw, never the test split), RTN grids, the integer-exact simulator; plus the SQNR
    of every integer tensor of the uniform low-width program against the float graph."""
    import time

    if calibration.mixed:
        raise UserError("sensitivity measures one setting: give --bits wXaY (the low widths), not auto")
    start = time.perf_counter()
    torch_model, meta = api.load_float_model(model, weights)
    prep = inputs.preprocessing(meta)
    graph = api.capture(torch_model, (prep.height, prep.width), prep.channels)
    calib = calibration_set(data, calibration.samples, calibration.seed, prep, inputs.data_root, log=log)
    prep = replace(prep, normalization=calib.normalization)
    held_out = held_out_set(data, calibration, prep, inputs.data_root, len(calib))
    table = graph_sensitivity(graph, calibration, calib.images, held_out, sqnr_images, log)
    return {"model": model, "weights": str(weights) if weights else None, "data": data, **table,
            "seconds": round(time.perf_counter() - start, 1)}


def graph_sensitivity(graph, calibration: CalibrationOptions, images: np.ndarray,
                      held_out: tuple[np.ndarray, np.ndarray], sqnr_images: int = 64, log=lambda m: None) -> dict:
    """sensitivity_analysis on a captured graph, calibration images and held-out (images, labels)."""
    from catdeploy.mixed.budget import budget_layers, uniform_widths
    from catdeploy.mixed.sensitivity import sensitivity_table, tensor_sqnr
    from catdeploy.quant.plan import parse_bits

    low = parse_bits(calibration.bits)
    layers = budget_layers(graph, calibration)
    held_images, held_labels = held_out
    log(f"sensitivity: {len(layers)} layers of the budget, {len(images)} calibration and {len(held_labels)} "
        f"held-out images")
    scorer = width_scorer(graph, calibration, images, held_out)
    table = sensitivity_table(scorer, layers, low, progress=log)
    sqnr = tensor_sqnr(scorer.quantized(uniform_widths(layers, *low), low), held_images[:sqnr_images])
    params = {layer.name: layer.params for layer in layers}
    macs = {layer.name: layer.macs for layer in layers}
    for row in table["rows"]:
        row["parameters"], row["macs"] = params[row["layer"]], macs[row["layer"]]
    return {"setting": calibration.bits, "convention": "strict" if calibration.strict else calibration.convention,
            **table, "sqnr": sqnr, "sqnr_images": int(min(sqnr_images, len(held_labels)))}


def golden_path(out: Path) -> Path:
    """MODEL.golden.npz beside MODEL.tflite."""
    out = Path(out)
    return out.with_name((out.stem if out.suffix == ".tflite" else out.name) + ".golden.npz")


def export_quantized(qg: QuantizedGraph, out: Path, *, lowering: LoweringOptions = DEFAULT_LOWERING,
                     force: bool = False, source: dict | None = None, golden: int = 0) -> dict:
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
    program, model_bytes = lowered(qg, lowering)
    manifest = tflite_manifest(qg, program, model_bytes, source or {})
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
                 inputs: InputOptions = InputOptions(), force: bool = False) -> dict:
    """`export --bits fp32`: the captured float model as a float32 TFLite graph (no calibration),
    written with its manifest atomically; returns the manifest. The preprocessing (size, channels,
    normalisation: --mean/--std, the checkpoint's, or `data`'s default) is recorded for eval."""
    from catdeploy.lower.float_program import lower_float

    out = Path(out)
    check_output_path(out, force)
    manifest_path = out.with_name(out.name + ".json")
    if manifest_path.exists() and not force:
        raise UserError(f"{manifest_path}: already exists (pass --force to overwrite)")
    torch_model, meta = api.load_float_model(model, weights)
    prep = inputs.preprocessing(meta)
    graph = api.capture(torch_model, (prep.height, prep.width), prep.channels)
    if prep.normalization is None and data is not None:
        prep = replace(prep, normalization=calibration_set(data, 1, 0, prep, inputs.data_root).normalization)
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
        "source": {"model": model, "weights": weights, "data": data}, "versions": versions(),
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
        lower(qg)  # cheap (milliseconds): every node, value and grid the export needs exists
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


EVAL_CHUNK_BYTES = 128 * 2**20   # images preprocessed at a time by eval_chunks (at least EVAL_BATCH)


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
            shape = model_io(model_bytes).input_shape
        except (CatrtError, UserError):  # not readable as a model: the caller's own check reports it
            return Preprocessing()
        if len(shape) == 4 and shape[3] in (1, 3):  # NHWC
            return Preprocessing(int(shape[1]), int(shape[2]), int(shape[3]))
    return Preprocessing()


def evaluate_file(source: Path, data: str, samples: int | None, engine: str, data_root,
                   interpreter: str = "tflite-runtime", resolver: str = "ref") -> dict:
    """Top-1/top-5 of a .tflite (engine catrt or tflite) or a .qg (exported on the fly; also fake-quant).

    engine tflite runs `interpreter` with `resolver` (ref, builtin, nodelegate, auto: the optimized
    kernels / XNNPACK a device runs by default); engine catrt runs catrt with the arithmetic profile
    of that interpreter and resolver on this CPU, so both give the same integer top-1. With a
    resolver other than ref the reference top-1 is reported beside it ("top1_ref")."""
    from catdeploy.check.interpreters import INTERPRETERS, RESOLVERS, available_interpreters, tflite_engine
    from catdeploy.check.model_io import is_float_graph, model_inputs_for
    from catdeploy.integer import catrt_engine, program_bytes

    if engine not in ("catrt", "tflite"):
        raise UserError(f"--engine {engine!r} is not one of catrt, tflite")
    if interpreter not in INTERPRETERS:
        raise UserError(f"--interpreter {interpreter!r} is not one of {', '.join(INTERPRETERS)}")
    if resolver not in RESOLVERS:
        raise UserError(f"--resolver {resolver!r} is not one of {', '.join(RESOLVERS)}")
    if engine == "tflite" and interpreter not in available_interpreters():
        raise UserError(f"--interpreter {interpreter}: not installed "
                        f"(installed: {', '.join(available_interpreters()) or 'none'})")
    if source.suffix == ".qg":
        qg = load_quantized(source)
        model_bytes = program_bytes(qg)
    else:
        model_bytes = load_model_bytes(source)
        qg = None

    def check_first_chunk(x) -> None:
        model_inputs_for(source, model_bytes, x[:1])
        if engine == "catrt" and is_float_graph(model_bytes):
            raise UserError(f"{source}: a float32 graph (export --bits fp32); catrt runs integer graphs "
                            f"only, use --engine tflite")

    chunks = eval_chunks(data, samples, data_root=None if data_root is None else str(data_root),
                         prep=preprocessing_for_model(source, model_bytes, qg))
    runner = catrt_engine(interpreter, resolver) if engine == "catrt" else tflite_engine(interpreter, resolver)
    return api.evaluate(model_bytes, qg, chunks, runner, check_first_chunk)
