"""The Python API: quantize a model from a training script, export, verify, evaluate.

    import catdeploy
    qm = catdeploy.quantize(model, calibration_images, bits="w2a4", method="qdrop", cat=True)
    qm.export_tflite("m.tflite")
    qm.verify(test_images)                    # bit-exact against every installed interpreter
    qm.evaluate(test_images, test_labels)     # integer top-1 (catrt), simulator beside it
    qm.save("m.qg"); qm = catdeploy.load("m.qg")

Images are what the model takes: float NCHW, already normalised (numpy arrays, torch tensors, or a
DataLoader / iterable of tensors or (images, labels) batches). The CLI's flows (catdeploy.pipeline)
and this API share every stage; the model is the user's nn.Module, a torchvision name or a
``path/to/model.py:factory`` reference (with ``weights=``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from catdeploy.errors import UserError
from catdeploy.quant.quantized_graph import QuantizedGraph


def as_images(data: Any, what: str = "images") -> tuple[np.ndarray, np.ndarray | None]:
    """(float32 NCHW images, int64 labels or None) from an array, a tensor, or an iterable of
    batches (tensors/arrays, or (images, labels) pairs, e.g. a torch DataLoader)."""
    import torch

    def to_numpy(x) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
        return np.asarray(x)

    labels = None
    if isinstance(data, (np.ndarray, torch.Tensor)):
        images = to_numpy(data)
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, Path)):
        xs, ys = [], []
        for batch in data:
            if isinstance(batch, (tuple, list)):
                if len(batch) < 1:
                    raise UserError(f"{what}: an empty batch")
                xs.append(to_numpy(batch[0]))
                if len(batch) > 1:
                    ys.append(to_numpy(batch[1]))
            else:
                xs.append(to_numpy(batch))
        if not xs:
            raise UserError(f"{what}: the iterable yielded no batches")
        images = np.concatenate(xs)
        labels = np.concatenate(ys).astype(np.int64) if len(ys) == len(xs) else None
    else:
        raise UserError(f"{what}: expected a numpy array, a torch tensor or a DataLoader, got {type(data).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3) or len(images) == 0:
        raise UserError(f"{what}: expected float images [N, C, H, W] with C 1 or 3, got shape {list(images.shape)}")
    if not np.issubdtype(images.dtype, np.floating):
        raise UserError(f"{what}: expected float (normalised) images, got {images.dtype}")
    images = np.ascontiguousarray(images, dtype=np.float32)
    if not np.isfinite(images).all():
        raise UserError(f"{what}: NaN or Inf in the images")
    return images, labels


def _as_labels(labels: Any, n: int, what: str = "labels") -> np.ndarray:
    import torch

    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{what}: expected {n} integer labels, got {y.dtype} {list(y.shape)}")
    return y.astype(np.int64)


@dataclass
class QuantizedModel:
    """A calibrated integer model (a QuantizedGraph) with the operations users call."""

    qg: QuantizedGraph

    # -- facts
    @property
    def bits(self) -> str:
        return self.qg.plan.setting

    @property
    def method(self) -> str | None:
        return self.qg.meta.get("method")

    @property
    def cat(self) -> dict | None:
        """K, alpha and PCA size of the CAT head (None without CAT)."""
        if self.qg.cat is None:
            return None
        return {"clusters": int(self.qg.cat["clusters"]), "alpha": float(self.qg.cat["alpha"]),
                "pca": self.qg.cat["pca"]}

    def __repr__(self) -> str:
        cat = f", CAT K={self.cat['clusters']}" if self.cat else ""
        return f"QuantizedModel({self.qg.meta.get('model')}, {self.bits}, {self.method}{cat})"

    # -- files
    def tflite_bytes(self, io: str = "int8", int4_weights: bool = False, int2_weights: bool = False) -> bytes:
        """The integer-only TFLite flatbuffer (same bytes as export_tflite writes)."""
        from catdeploy.integer import program_bytes
        from catdeploy.lower.options import LoweringOptions

        return program_bytes(self.qg, LoweringOptions(io, int4_weights, int2_weights))

    def export_tflite(self, path: str | Path, *, force: bool = False, io: str = "int8",
                      int4_weights: bool = False, int2_weights: bool = False) -> dict:
        """Write PATH and its manifest PATH.json (atomically; never over an existing file without
        force); returns the manifest."""
        from catdeploy.lower.options import LoweringOptions
        from catdeploy.pipeline import export_quantized

        return export_quantized(self.qg, Path(path), lowering=LoweringOptions(io, int4_weights, int2_weights),
                                force=force, source={"python_api": True})

    def save(self, path: str | Path, *, force: bool = False) -> None:
        """The .qg archive (JSON + npz, no pickle), loadable with catdeploy.load or the CLI."""
        from catdeploy.quant.quantized_graph import save_quantized_graph
        from catdeploy.util_io import check_output_path

        check_output_path(Path(path), force)
        save_quantized_graph(self.qg, Path(path))

    # -- running
    def predict(self, images: Any, profile: str | None = None) -> np.ndarray:
        """Integer logits (dequantized float) computed by catrt on the exported graph under
        `profile` (default: the reference kernels)."""
        from catdeploy.integer import integer_logits

        x, _ = as_images(images)
        self._check_shape(x)
        return integer_logits(self.qg, x, profile=profile)

    def evaluate(self, images: Any, labels: Any = None) -> dict:
        """Integer top-1 / top-5 (%) by catrt on the exported graph (= the simulator's eval mode,
        reported beside it), the training-mode surrogate's (fake-quant) top-1, and with CAT the
        top-1 without and with the head: the numbers `catdeploy eval MODEL.qg` prints."""
        from catdeploy import api
        from catdeploy.integer import program_bytes

        x, y_batches = as_images(images)
        y = _as_labels(labels, len(x)) if labels is not None else y_batches
        if y is None:
            raise UserError("evaluate: labels are needed (pass labels=, or a DataLoader of (images, labels))")
        self._check_shape(x)
        return api.evaluate(program_bytes(self.qg), self.qg, [(x, y)])

    def verify(self, images: Any, interpreters: str | Iterable[str] = "all",
               resolvers: str | Iterable[str] = ("ref",)) -> "VerifyResult":
        """Run catrt and each TFLite interpreter on the same int8 inputs and compare every tensor."""
        from catdeploy.check.interpreters import available_interpreters
        from catdeploy.check.verify import INTERPRETERS, RESOLVERS, verify_model
        from catdeploy.integer import prepare_inputs

        x, _ = as_images(images)
        self._check_shape(x)
        interps = _names(interpreters, INTERPRETERS, "interpreters", available_interpreters())
        res = _names(resolvers, RESOLVERS, "resolvers", RESOLVERS)
        model = self.tflite_bytes()
        reports = verify_model(model, prepare_inputs(model, x), interps, res)
        return VerifyResult(all(r.bit_exact for r in reports), int(len(x)), reports)

    def _check_shape(self, x: np.ndarray) -> None:
        from catdeploy.data.preprocess import preprocessing_from_meta

        prep = preprocessing_from_meta(self.qg.meta)
        if x.shape[1:] != (prep.channels, prep.height, prep.width):
            raise UserError(f"images of shape {list(x.shape[1:])}; the model takes "
                            f"{[prep.channels, prep.height, prep.width]}")


@dataclass(frozen=True)
class VerifyResult:
    bit_exact: bool
    images: int
    runs: list

    def __bool__(self) -> bool:
        return self.bit_exact

    def to_dict(self) -> dict:
        return {"bit_exact": self.bit_exact, "images": self.images, "runs": [r.to_dict() for r in self.runs]}


def _names(value, allowed: tuple[str, ...], what: str, default_all) -> list[str]:
    items = list(default_all) if value == "all" else ([value] if isinstance(value, str) else list(value))
    for v in items:
        if v not in allowed:
            raise UserError(f"{what}: {v!r} is not one of {', '.join(allowed)}")
    return items


def quantize(model: Any, calibration_images: Any, *, bits: str = "w4a4", method: str = "rtn",
             preset: str = "default", cat: bool = False, affine_layers: bool = False,
             clusters: int | None = None, alpha: float | None = None, cat_views: int = 0,
             labels: Any = None, weights: str | Path | None = None, seed: int = 0, strict: bool = False,
             convention: str = "default", symmetric_weights: bool = False, observer: str = "lp",
             device: str = "cpu", iterations: int | None = None, progress=None, log=lambda m: None,
             name: str | None = None, max_drop: float | None = None, held_out_images: Any = None,
             held_out_labels: Any = None, cat_images: Any = None, cat_labels: Any = None,
             cat_max_cost: float = 0.05) -> QuantizedModel:
    """Quantize `model` (an nn.Module, a torch.export ExportedProgram, a torchvision name,
    "path/model.py:factory" with `weights`, or "path/model.pt2") on `calibration_images` (float NCHW as the model takes them). Labels are optional
    (CAT and --affine-layers score on them when given, else on the FP top-1). CAT and
    `affine_layers` are fitted and selected on `cat_images` / `cat_labels` (default: the calibration
    images; the CLI takes thousands of other train images, --cat-samples). Same options, defaults
    and results as ``catdeploy calibrate``. ``bits="auto:wXaY"`` (or ``"auto"`` with
    `max_drop`) chooses per-layer widths on `held_out_images` / `held_out_labels` (default: a
    quarter of the labelled calibration images set aside)."""
    import torch

    from catdeploy import api
    from catdeploy.cat.options import CatOptions
    from catdeploy.data.preprocess import Preprocessing
    from catdeploy.pipeline import calibrate_graph, plan_checks
    from catdeploy.quant.options import CalibrationOptions

    x, y_batches = as_images(calibration_images, "calibration_images")
    y = _as_labels(labels, len(x)) if labels is not None else y_batches
    if isinstance(model, torch.export.ExportedProgram):
        from catdeploy.capture.exported import raise_exported_program

        model_name = name or "ExportedProgram"
        torch_model = raise_exported_program(model, model_name)
    elif isinstance(model, torch.nn.Module):
        torch_model, model_name = model, name or type(model).__name__
    elif isinstance(model, str):
        torch_model, _ = api.load_float_model(model, weights)
        model_name = model
    else:
        raise UserError(f"model: expected a torch.nn.Module, an ExportedProgram or a model name, "
                        f"got {type(model).__name__}")
    calibration = CalibrationOptions(bits=bits, method=method, samples=len(x), seed=seed, strict=strict,
                                     symmetric_weights=symmetric_weights, observer=observer, preset=preset,
                                     convention=convention, device=device, iterations=iterations,
                                     max_drop=max_drop)
    held_out = _held_out(held_out_images, held_out_labels)
    cat_options = CatOptions(enabled=cat, clusters=clusters, alpha=alpha, views=cat_views,
                             affine_layers=affine_layers, max_cost=cat_max_cost, seed=seed)
    cat_source = None
    if cat_images is not None:
        cx, cy = as_images(cat_images, "cat_images")
        cy = _as_labels(cat_labels, len(cx)) if cat_labels is not None else cy
        cat_source = lambda: [(cx, cy)]  # noqa: E731
    c, h, w = x.shape[1:]
    graph = api.capture(torch_model, (h, w), c)
    qplan = plan_checks(graph, calibration, cat_options)
    prep = Preprocessing(h, w, c, None)
    qg = calibrate_graph(graph, qplan, x, y, calibration, cat_options, meta={
        "model": model_name, "weights": None if weights is None else str(weights), "data": "python-api",
        "input_size": h if h == w else [h, w], "preprocessing": prep.to_dict(), "samples": len(x),
    }, log=log, progress=progress, held_out=held_out, cat_images=cat_source)
    return QuantizedModel(qg)


def _held_out(images: Any, labels: Any):
    """(images, labels) of the held-out arguments, both or neither."""
    if images is None and labels is None:
        return None
    if images is None or labels is None:
        raise UserError("held_out_images and held_out_labels go together")
    x, _ = as_images(images, "held_out_images")
    return x, _as_labels(labels, len(x))


def sensitivity(model: Any, calibration_images: Any, held_out_images: Any, held_out_labels: Any, *,
                bits: str = "w4a4", weights: str | Path | None = None, seed: int = 0, strict: bool = False,
                convention: str = "default", symmetric_weights: bool = False, observer: str = "lp",
                log=lambda m: None) -> dict:
    """``catdeploy sensitivity`` for the Python API: per-tensor damage / recovery at `bits` on the
    held-out images (integer-exact simulator), per-tensor SQNR; the same dict as ``--json``."""
    import torch

    from catdeploy import api
    from catdeploy.pipeline import graph_sensitivity
    from catdeploy.quant.options import CalibrationOptions

    x, _ = as_images(calibration_images, "calibration_images")
    if isinstance(model, torch.nn.Module):
        torch_model = model
    elif isinstance(model, str):
        torch_model, _ = api.load_float_model(model, weights)
    else:
        raise UserError(f"model: expected a torch.nn.Module or a model name, got {type(model).__name__}")
    calibration = CalibrationOptions(bits=bits, samples=len(x), seed=seed, strict=strict, convention=convention,
                                     symmetric_weights=symmetric_weights, observer=observer)
    graph = api.capture(torch_model, tuple(x.shape[2:]), x.shape[1])
    return graph_sensitivity(graph, calibration, x, _held_out(held_out_images, held_out_labels), log=log)


def load(path: str | Path) -> QuantizedModel:
    """A QuantizedModel from a .qg archive (checked: a malformed file is a UserError)."""
    from catdeploy.pipeline import load_quantized

    return QuantizedModel(load_quantized(Path(path)))
