"""One function per pipeline stage; the CLI and examples call only these.

    capture -> plan -> calibrate -> lower -> export -> verify / evaluate
"""
from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph
from catdeploy.ir.int_program import IntProgram
from catdeploy.quant.plan import QuantPlan, make_plan
from catdeploy.quant.qparams import ActQParams
from catdeploy.quant.quantized_graph import QuantizedGraph

METHODS = ("rtn", "adaround", "brecq", "qdrop", "pdquant")


# ----------------------------------------------------------------------------------------------
# capture
def load_float_model(model: str, weights: str | Path | None, num_classes: int | None = None):
    """(torch model in eval mode, checkpoint meta) for a torchvision name, or the user's own model
    (``path/to/model.py:factory`` or ``package.module:factory``), and optional weights."""
    from catdeploy.data.user_model import is_user_model, load_user_model
    from catdeploy.data.zoo import build_model, check_model_name, load_model

    if is_user_model(model):
        return load_user_model(model, weights)
    check_model_name(model)  # name errors before any file is touched
    if weights is None:
        m = build_model(model, num_classes or 10)
        m.eval()
        return m, {}
    return load_model(model, weights, num_classes)


def capture(model, input_size: int | tuple[int, int] = 32, channels: int = 3) -> Graph:
    """The float Graph of `model` for NCHW inputs of (1, channels, H, W); an int size is square."""
    from catdeploy.capture import capture as capture_torch
    from catdeploy.data.preprocess import parse_input_size

    h, w = parse_input_size(input_size)
    return capture_torch(model, input_shape=(1, channels, h, w))


def float_values(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every value of the float graph on batch x (NCHW float32)."""
    import torch

    from catdeploy.ir.execute import run_graph

    with torch.no_grad():
        _, values = run_graph(graph, x, keep="all")
    return values


def float_logits(graph: Graph, x: np.ndarray) -> np.ndarray:
    import torch

    from catdeploy.ir.execute import run_graph

    with torch.no_grad():
        return run_graph(graph, x)


# ----------------------------------------------------------------------------------------------
# plan + calibrate
def plan(graph: Graph, bits: str = "w4a4", **kwargs) -> QuantPlan:
    return make_plan(graph, bits, **kwargs)


def iterate_batches(images: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(images), batch_size):
        yield np.ascontiguousarray(images[start:start + batch_size], dtype=np.float32)


def calibration_images(data: str, samples: int, seed: int, input_size: int = 32,
                       data_root: str | None = None) -> np.ndarray:
    """`samples` images drawn with `seed` from the TRAIN split of `data` (preprocessed NCHW)."""
    return calibration_data(data, samples, seed, input_size, data_root)[0]


def calibration_data(data: str, samples: int, seed: int, input_size: int | tuple[int, int] = 32,
                     data_root: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(images, labels or None) of the calibration draw (same images as calibration_images)."""
    from catdeploy.data.preprocess import Preprocessing, parse_input_size

    sub = calibration_set(data, samples, seed, Preprocessing(*parse_input_size(input_size)), data_root)
    return sub.images, sub.labels


def calibration_set(data: str, samples: int, seed: int, prep, data_root: str | None = None):
    """The calibration Dataset: `samples` images drawn with `seed` from the TRAIN split of `data`,
    preprocessed by `prep` (a Preprocessing); its .normalization is the one actually used (the
    data's own statistics when `prep` names none): record it so evaluation preprocesses alike."""
    from catdeploy.data.datasets import has_splits, load_dataset, with_split
    from catdeploy.data.splits import calibration_subset

    spec = with_split(data, "train") if has_splits(data) and ":" not in data else data
    ds = load_dataset(spec, data_root, input_size=(prep.height, prep.width), default_split="train",
                      normalization=prep.normalization, channels=prep.channels)
    return calibration_subset(ds, samples, seed)


def fp_logits_function(graph: Graph, batch_size: int = 128) -> Callable[[np.ndarray], np.ndarray]:
    """images -> FP logits of the float graph, in batches."""
    def run(images: np.ndarray) -> np.ndarray:
        return np.concatenate([float_logits(graph, xb) for xb in iterate_batches(images, batch_size)])

    return run


def apply_cat(qg: QuantizedGraph, images: np.ndarray, labels: np.ndarray | None, *, clusters: int | None = None,
              alpha: float | None = None, views: int = 0, seed: int = 0, log=lambda m: None) -> QuantizedGraph:
    """Fit CAT on any QuantizedGraph (integer logits, held-out selection); see catdeploy.cat.select."""
    from catdeploy.cat.select import CatOptions, calibrate_cat

    return calibrate_cat(qg, fp_logits_function(qg.graph), images, labels,
                         CatOptions(clusters=clusters, alpha=alpha, views=views, seed=seed), log=log)


def apply_affine_layers(qg: QuantizedGraph, images: np.ndarray, labels: np.ndarray | None, *, seed: int = 0,
                        log=lambda m: None) -> QuantizedGraph:
    """Per-channel affine inside the network, folded into each layer (catdeploy.cat.affine_layers)."""
    from catdeploy.cat.affine_layers import calibrate_affine_layers

    return calibrate_affine_layers(qg, fp_logits_function(qg.graph), images, labels, seed=seed, log=log)


def calibrate(graph: Graph, qplan: QuantPlan, calib_images: np.ndarray, *, method: str = "rtn",
              seed: int = 0, batch_size: int = 64, meta: dict | None = None, preset: str = "default",
              device: str = "cpu", iterations: int | None = None, progress=None) -> QuantizedGraph:
    """RTN grids and codes; with a reconstruction method (adaround, brecq, qdrop, pdquant) those are
    the starting point that quant/recon optimises unit by unit (`preset`: fast, default, paper)."""
    if method not in METHODS:
        raise UserError(f"--method {method!r} is not one of {', '.join(METHODS)}")
    from catdeploy.quant.calibrate_rtn import calibrate_rtn

    if method != "rtn":
        from catdeploy.quant.recon.methods import preset as check_preset

        check_preset(preset)
        if device not in ("cpu", "cuda"):
            raise UserError(f"--device {device!r} is not one of cpu, cuda")
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available (use --device cpu)")
    info = {"calibration_images": int(len(calib_images)), **(meta or {})}
    qg = calibrate_rtn(graph, qplan, iterate_batches(calib_images, batch_size), seed=seed,
                       run_values=float_values, meta=info)
    if method == "rtn":
        return qg
    from catdeploy.quant.recon.engine import reconstruct

    return reconstruct(qg, calib_images, method=method, preset=preset, seed=seed, device=device,
                       iterations=iterations, progress=progress)


# ----------------------------------------------------------------------------------------------
# lower + export
def lower(qg: QuantizedGraph, io: str = "int8", int4_weights: bool = False,
          int2_weights: bool = False) -> IntProgram:
    from catdeploy.lower import lower as lower_qg

    return lower_qg(qg, io, int4_weights, int2_weights)


def export_tflite(program: IntProgram) -> bytes:
    from catdeploy.export.tflite import write_tflite

    return write_tflite(program)


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("catdeploy", "catrt", "numpy", "torch", "torchvision", "tflite-runtime", "ai-edge-litert",
                 "tensorflow"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def manifest(qg: QuantizedGraph, program: IntProgram, model_bytes: bytes, source: dict) -> dict:
    """The JSON written beside a .tflite: bit widths per tensor, requantization, versions, hashes."""
    from catdeploy.lower import requant_table

    tensors = {}
    for t in program.tensors.values():
        entry = {"dtype": t.dtype, "shape": list(t.shape)}
        if t.bits is not None:
            entry["bits"] = t.bits
        if t.scale is not None and len(t.scale) == 1:
            entry["scale"] = t.scale[0]
            entry["zero_point"] = t.zero_point[0]
        tensors[t.name] = entry
    return {
        "format": "catdeploy.tflite_manifest", "version": 1,
        "sha256": hashlib.sha256(model_bytes).hexdigest(), "size_bytes": len(model_bytes),
        "setting": qg.plan.setting, "strict": qg.plan.strict,
        "weight_bits": dict(qg.plan.weights), "weight_symmetric": dict(qg.plan.weight_symmetric),
        "method": qg.meta.get("method"), "calibration": dict(qg.meta),
        "inputs": list(program.inputs), "outputs": list(program.outputs),
        "extra_clamp_ops": int(program.metadata.get("catdeploy.extra_clamp_ops", 0)),
        "requantization": requant_table(program), "tensors": tensors,
        "cat": cat_manifest(qg),
        "affine_layers": qg.meta.get("affine_layers"),
        "source": source, "versions": versions(),
    }


def cat_manifest(qg: QuantizedGraph) -> dict | None:
    """The CAT parameters for the manifest: scalars and the cluster sizes (arrays stay in the .qg)."""
    if qg.cat is None:
        return None
    out = {k: v for k, v in qg.cat.items() if not isinstance(v, np.ndarray)}
    out["cluster_sizes"] = [int(n) for n in np.asarray(qg.cat["cluster_sizes"]).ravel()]
    return out


# ----------------------------------------------------------------------------------------------
# inputs, evaluation
def quantize_input(x_nchw: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float NCHW images -> int8 NHWC with TFLite's reference QUANTIZE formula
    (reference/quantize.h: float32 division, round half away from zero, clamp)."""
    x = np.transpose(np.asarray(x_nchw, np.float32), (0, 2, 3, 1))
    q = x / np.float32(scale)  # float32 division
    q = np.where(q >= 0, np.floor(q + np.float32(0.5)), np.ceil(q - np.float32(0.5)))
    return np.clip(q.astype(np.int64) + int(zero_point), -128, 127).astype(np.int8)


@dataclass(frozen=True)
class ModelIO:
    input_name: str
    input_scale: float
    input_zero_point: int
    input_shape: tuple[int, ...]
    float_input: bool


def model_io(model_bytes: bytes) -> ModelIO:
    """The first input of a .tflite (read, not prepared: float32 programs of --bits fp32 too)."""
    from catrt import CatrtError
    from catrt.reader import read_model

    try:
        model = read_model(model_bytes)
    except CatrtError as exc:
        raise UserError(f"not a readable TFLite model: {exc}") from None
    d = model.tensors[model.inputs[0]]
    float_input = d.dtype == "float32"
    if not float_input and d.quantization is None:
        raise UserError(f"input tensor '{d.name}' ({d.dtype}) has no quantization parameters")
    scale, zp = (1.0, 0) if float_input else (d.quantization.scale[0], d.quantization.zero_point[0])
    return ModelIO(d.name, float(scale), int(zp), tuple(d.shape), float_input)


def prepare_inputs(model_bytes: bytes, x_nchw: np.ndarray) -> np.ndarray:
    io = model_io(model_bytes)
    if io.float_input:
        return np.transpose(np.asarray(x_nchw, np.float32), (0, 2, 3, 1)).copy()
    return quantize_input(x_nchw, io.input_scale, io.input_zero_point)


def top_k(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    k = min(k, logits.shape[1])
    # stable: ties resolved toward the lower index, like TFLite ARG_MAX
    order = np.argsort(-logits.astype(np.float64), axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(order == labels[:, None], axis=1)))


def run_catrt(model_bytes: bytes, x_nchw: np.ndarray, batch_size: int = 64,
              progress: Callable[[int], None] | None = None, profile: str | None = None) -> np.ndarray:
    from catrt import Interpreter

    rt = Interpreter(model_bytes, profile=profile) if profile else Interpreter(model_bytes)
    out_name = rt.get_output_details()[0].name
    outs = []
    for xb in iterate_batches(x_nchw, batch_size):
        outs.append(np.asarray(rt.run([prepare_inputs(model_bytes, xb)])[out_name]))
        if progress:
            progress(len(xb))
    return np.concatenate(outs)


def run_tflite(model_bytes: bytes, x_nchw: np.ndarray, interpreter: str = "tflite-runtime",
               resolver: str = "ref", batch_size: int = 256) -> np.ndarray:
    from catdeploy.check.interpreters import run_interpreter

    outs = []
    for xb in iterate_batches(x_nchw, batch_size):
        res = run_interpreter(model_bytes, [prepare_inputs(model_bytes, xb)], interpreter, resolver, keep_all=False)
        outs.append(np.asarray(res["outputs"][0]))
    return np.concatenate(outs)


def integer_logits_with_and_without_cat(qg: QuantizedGraph, x_nchw: np.ndarray) -> dict[str, np.ndarray]:
    """Integer (catrt) logits of `qg` with its CAT head and without it (base classifier), from one
    run of the network: the classifier's int8 input is computed once and fed to both
    classifier-only programs (the same ops and constants as the exported graphs). Dequantized."""
    from dataclasses import replace as dc_replace

    from catdeploy.cat.integer import (classifier_bytes, dequantize, integer_tensors, output_qparams,
                                       program_bytes, run_classifier)
    from catdeploy.lower import classifier_node

    node = classifier_node(qg.graph)
    base = dc_replace(qg, cat=None)
    x_name = qg.plan.node_inputs[node.name][0]
    features = integer_tensors(program_bytes(base), x_nchw, [x_name])[x_name]
    out = {}
    for key, variant in (("without_cat", base), ("with_cat", qg)):
        if key == "with_cat" and qg.cat is None:
            continue
        head = classifier_bytes(variant)
        out[key] = dequantize(run_classifier(head, features), *output_qparams(head))
    return out


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read JSON ({exc})") from None


def act_qparams_of(qg: QuantizedGraph, value: str) -> ActQParams:
    return qg.act_qparams[value]
