"""The facade: one function per pipeline stage, for users' scripts, the flows and the CLI.

    load_float_model -> capture -> plan -> calibrate (-> apply_affine_layers -> apply_cat)
      -> lower -> export_tflite -> evaluate

No stage imports this module: what several stages need lives below them (the integer engine in
catdeploy.integer, the float executor in catdeploy.ir.execute, the options records beside their
stage).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from catdeploy.cat.options import NO_CAT, CatOptions
from catdeploy.errors import UserError
from catdeploy.integer.evaluate import Engine
from catdeploy.ir.graph import Graph
from catdeploy.ir.int_program import IntProgram
from catdeploy.lower.options import DEFAULT_LOWERING, LoweringOptions
from catdeploy.quant.options import CalibrationOptions
from catdeploy.quant.plan import QuantPlan, make_plan
from catdeploy.quant.quantized_graph import QuantizedGraph

DEFAULT_CALIBRATION = CalibrationOptions()


def load_float_model(model: str, weights: str | Path | None, num_classes: int | None = None):
    """(torch model in eval mode, checkpoint meta) for a torchvision name, or the user's own model
    (``path/to/model.py:factory`` or ``package.module:factory``), and optional weights."""
    from catdeploy.data.float_model import load_float_model as load

    return load(model, weights, num_classes)


def capture(model, input_size: int | tuple[int, int] = 32, channels: int = 3) -> Graph:
    """The float Graph of `model` for NCHW inputs of (1, channels, H, W); an int size is square."""
    from catdeploy.capture import capture as capture_torch
    from catdeploy.data.preprocess import parse_input_size

    h, w = parse_input_size(input_size)
    return capture_torch(model, input_shape=(1, channels, h, w))


def plan(graph: Graph, bits: str = "w4a4", **kwargs) -> QuantPlan:
    """The QuantPlan of `graph` at `bits` (keywords: strict, convention, symmetric_weights,
    observer, weight_overrides, act_overrides)."""
    return make_plan(graph, bits, **kwargs)


def calibrate(graph: Graph, qplan: QuantPlan, calib_images: np.ndarray,
              options: CalibrationOptions = DEFAULT_CALIBRATION, *, meta: dict | None = None,
              progress=None) -> QuantizedGraph:
    """RTN grids and codes; with a reconstruction method (adaround, brecq, qdrop, pdquant) those are
    the starting point that quant/recon optimises unit by unit (options.preset: fast, default,
    paper)."""
    from catdeploy.integer.inputs import iterate_batches
    from catdeploy.ir.execute import float_values
    from catdeploy.quant.calibrate_rtn import calibrate_rtn

    if options.reconstructs and options.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available (use --device cpu)")
    info = {"calibration_images": int(len(calib_images)), **(meta or {})}
    qg = calibrate_rtn(graph, qplan, iterate_batches(calib_images, options.batch_size), seed=options.seed,
                       run_values=float_values, meta=info)
    if not options.reconstructs:
        return qg
    from catdeploy.quant.recon.engine import reconstruct

    return reconstruct(qg, calib_images, method=options.method, preset=options.preset, seed=options.seed,
                       device=options.device, iterations=options.iterations, progress=progress)


def apply_affine_layers(qg: QuantizedGraph, images: np.ndarray, labels: np.ndarray | None,
                        options: CatOptions = NO_CAT, *, log=lambda m: None) -> QuantizedGraph:
    """Per-channel affine inside the network, folded into each layer (catdeploy.cat.affine_layers);
    `images` (and `labels`) are the CAT images, one array or, with labels None, an iterable of
    (images, labels) chunks."""
    from catdeploy.cat.affine_layers import calibrate_affine_layers
    from catdeploy.ir.execute import float_logits_function

    return calibrate_affine_layers(qg, float_logits_function(qg.graph), _chunks(images, labels),
                                   seed=options.seed, log=log)


def _chunks(images, labels):
    """[(images, labels)] for one array, the iterable itself for chunks."""
    return [(images, labels)] if isinstance(images, np.ndarray) else images


def apply_cat(qg: QuantizedGraph, images: np.ndarray, labels: np.ndarray | None,
              options: CatOptions = NO_CAT, *, log=lambda m: None) -> QuantizedGraph:
    """Fit CAT on any QuantizedGraph (integer logits of the CAT images `images`, one array or an
    iterable of (images, labels) chunks; cross-fitted selection); see catdeploy.cat.select."""
    from catdeploy.cat.select import calibrate_cat_on_chunks
    from catdeploy.ir.execute import float_logits_function

    return calibrate_cat_on_chunks(qg, float_logits_function(qg.graph), _chunks(images, labels), options, log=log)


def lower(qg: QuantizedGraph, options: LoweringOptions = DEFAULT_LOWERING) -> IntProgram:
    """The IntProgram of `qg` (NHWC, int8 / int32, multipliers, shifts, clamps)."""
    from catdeploy.lower import lower as lower_qg

    return lower_qg(qg, options)


def export_tflite(program: IntProgram) -> bytes:
    """The .tflite flatbuffer of an IntProgram."""
    from catdeploy.export.tflite import write_tflite

    return write_tflite(program)


def evaluate(model_bytes: bytes, qg: QuantizedGraph | None, chunks: Iterable[tuple[np.ndarray, np.ndarray]],
             engine: Engine = Engine(), check_first_chunk=None) -> dict:
    """Top-1 / top-5 (%) of `model_bytes` (for a .qg: its program bytes) on labelled chunks of
    float NCHW images, with the simulator, fake-quant and without / with CAT columns for a .qg
    (catdeploy.integer.evaluate)."""
    from catdeploy.integer.evaluate import evaluate_chunks

    return evaluate_chunks(model_bytes, qg, chunks, engine, check_first_chunk)
