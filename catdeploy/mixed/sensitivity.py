"""Per-layer sensitivity, measured with the integer-exact simulator on held-out images.

For every tensor of the budget (catdeploy/mixed/budget.py; each layer's weights and the
activation it reads, separately):
  damage   = score with every tensor at 8 bit  - score with only this tensor at the low width
  recovery = score with only this tensor at 8 bit - score with every tensor at the low width
as held-out top-1 (points) and as KL(FP || integer) of the softmax of the logits (nats, mean over
images). Grids are RTN grids searched once per tensor and width (quant/calibrate_rtn.GridCache),
so every variant costs one lowering and one catrt pass over the held-out images. The per-tensor
SQNR of the uniform low-width program against the float graph says where the error starts and
where it grows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from catdeploy.integer.metrics import dequantize, top_k
from catdeploy.integer.program import program_bytes
from catdeploy.integer.runner import catrt_batches, catrt_interpreter, dequantize_output, run_catrt
from catdeploy.ir.execute import float_values
from catdeploy.mixed.budget import BudgetLayer, Widths, options_for, uniform_widths
from catdeploy.quant.calibrate_rtn import GridCache, calibrate_from_cache
from catdeploy.quant.options import CalibrationOptions, plan_for
from catdeploy.quant.qparams import fake_quant_act
from catdeploy.quant.quantized_graph import QuantizedGraph


@dataclass(frozen=True)
class HeldOut:
    """Held-out images (float NCHW, never the test split), their labels and the FP logits."""

    images: np.ndarray
    labels: np.ndarray
    fp_logits: np.ndarray

    @property
    def fp_top1(self) -> float:
        return top_k(self.fp_logits, self.labels, 1) * 100


def softmax_kl(p_logits: np.ndarray, q_logits: np.ndarray) -> float:
    """Mean over rows of KL(softmax(p) || softmax(q)) in nats."""
    p_log = _log_softmax(np.asarray(p_logits, np.float64))
    q_log = _log_softmax(np.asarray(q_logits, np.float64))
    return float(np.mean(np.sum(np.exp(p_log) * (p_log - q_log), axis=1)))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))


def held_out_score(qg: QuantizedGraph, held: HeldOut) -> dict[str, float]:
    """{"top1": %, "kl": nats} of the integer program of `qg` (catrt, reference kernels)."""
    model_bytes = program_bytes(qg)
    logits = dequantize_output(model_bytes, run_catrt(model_bytes, held.images, batch_size=128))
    return {"top1": top_k(logits, held.labels, 1) * 100, "kl": softmax_kl(held.fp_logits, logits)}


class WidthScorer:
    """Scores widths on the held-out images: RTN grids from one GridCache, the integer program
    run by catrt; every score is kept (the same widths are never run twice)."""

    def __init__(self, cache: GridCache, options: CalibrationOptions, held: HeldOut):
        self.cache, self.options, self.held = cache, options, held
        self.evaluations = 0
        self._scores: dict[tuple, dict[str, float]] = {}

    def quantized(self, widths: Widths, floor: tuple[int, int] = (8, 8)) -> QuantizedGraph:
        opts = options_for(self.options, widths, floor)
        return calibrate_from_cache(plan_for(self.cache.graph, opts), self.cache)

    def score(self, widths: Widths, floor: tuple[int, int] = (8, 8)) -> dict[str, float]:
        key = (tuple(sorted(widths.weights.items())), tuple(sorted(widths.acts.items())), floor)
        if key not in self._scores:
            self._scores[key] = held_out_score(self.quantized(widths, floor), self.held)
            self.evaluations += 1
        return self._scores[key]


def with_width(widths: Widths, layer: str, kind: str, bits: int) -> Widths:
    """`widths` with one tensor (a layer's "weight" or its input "activation") set to `bits`."""
    if kind == "weight":
        return Widths({**widths.weights, layer: bits}, widths.acts)
    return Widths(widths.weights, {**widths.acts, layer: bits})


def tensors_of(layers: list[BudgetLayer]) -> list[tuple[str, str]]:
    """(layer, "weight" | "activation") for every tensor of the budget, in graph order."""
    return [(layer.name, kind) for layer in layers
            for kind in (("weight", "activation") if layer.act_unit else ("weight",))]


def sensitivity_table(scorer: WidthScorer, layers: list[BudgetLayer], low: tuple[int, int],
                      progress: Callable[[str], None] = lambda m: None) -> dict:
    """Damage and recovery of every tensor of the budget at the low widths `low` = (weight bits,
    activation bits) (module docstring), plus the all-8 and all-low scores."""
    start = time.perf_counter()
    high_widths, low_widths = uniform_widths(layers, 8, 8), uniform_widths(layers, *low)
    high, low_score = scorer.score(high_widths), scorer.score(low_widths, low)
    rows = []
    tensors = tensors_of(layers)
    for i, (layer, kind) in enumerate(tensors):
        bits = low[0] if kind == "weight" else low[1]
        only_low = scorer.score(with_width(high_widths, layer, kind, bits))
        only_high = scorer.score(with_width(low_widths, layer, kind, 8), low)
        rows.append({"layer": layer, "tensor": kind, "bits": bits,
                     "damage_top1": high["top1"] - only_low["top1"], "damage_kl": only_low["kl"] - high["kl"],
                     "recovery_top1": only_high["top1"] - low_score["top1"],
                     "recovery_kl": low_score["kl"] - only_high["kl"]})
        progress(f"sensitivity {i + 1}/{len(tensors)}: {layer} {kind}")
    return {"low": {"weight_bits": low[0], "act_bits": low[1]}, "fp_top1": scorer.held.fp_top1,
            "all_8bit": high, "all_low": low_score, "rows": rows,
            "held_out_images": int(len(scorer.held.labels)), "evaluations": scorer.evaluations,
            "seconds": time.perf_counter() - start}


def tensor_sqnr(qg: QuantizedGraph, images: np.ndarray, batch_size: int = 64) -> list[dict]:
    """SQNR (dB) of every int8 activation tensor of the integer program of `qg` that holds a
    float graph value (lowering names a value's tensor after it), in program order:
    10 log10(sum f^2 / sum (f - dequant(q))^2) over `images`."""
    model_bytes = program_bytes(qg)
    rt = catrt_interpreter(model_bytes)
    graph = qg.graph
    details = [d for d in rt.get_tensor_details()
               if d.name in graph.values and d.dtype == "int8" and len(d.scale) == 1]
    sums = {d.name: [0.0, 0.0] for d in details}
    for xb, values in catrt_batches(model_bytes, images, batch_size, keep_all=True, interpreter=rt):
        reference = float_values(graph, xb)
        for d in details:
            f = np.asarray(reference[d.name], np.float64)
            f = np.transpose(f, (0, 2, 3, 1)) if f.ndim == 4 else f
            q = dequantize(values[d.name], float(d.scale[0]), int(d.zero_point[0]))
            if f.shape != q.shape:
                sums.pop(d.name, None)
                continue
            if d.name in sums:
                sums[d.name][0] += float(np.sum(f * f))
                sums[d.name][1] += float(np.sum((f - q) ** 2))
    bits = {v: qg.act_qparams[v].bits for v in qg.act_qparams}
    return [{"tensor": name, "bits": bits.get(name),
             "sqnr_db": (10 * np.log10(s / n) if s > 0 and n > 0 else None)}
            for name, (s, n) in sums.items()]


def weight_error(cache: GridCache, layer: str, bits: int, symmetric: bool, observer: str) -> float:
    """Sum of squared weight rounding errors of `layer` at `bits` (its RTN grid)."""
    (qp, codes), = cache.weight_grids([(layer, bits, symmetric, observer)])
    w = cache.float_param(layer, "weight").astype(np.float64)
    scale = qp.scale.reshape((-1,) + (1,) * (w.ndim - 1)).astype(np.float64)
    return float(np.sum((codes.astype(np.float64) * scale - w) ** 2))


def activation_error(cache: GridCache, value: str, bits: int, observer: str) -> float:
    """Mean squared rounding error of `value`'s float samples on its RTN grid at `bits`."""
    samples = cache.samples[value]
    qp, = cache.activation_grids([((value,), bits, observer)])
    return float(np.mean((fake_quant_act(samples, qp).astype(np.float64) - samples) ** 2))
