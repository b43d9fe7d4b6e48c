"""RTN calibration: observe activation ranges on calibration images, round weights to nearest.

Activation grids are observed on the full-precision activations (one grid per qparam group, plus
one per requantized copy, observed on its source value). Weight grids are per output channel.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Sequence

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph
from catdeploy.quant.observers import LpSearch, fixed_grid, observe_activation, observe_weight
from catdeploy.quant.plan import QuantPlan
from catdeploy.quant.quantized_graph import QuantizedGraph, bias_codes_for
from catdeploy.quant.qparams import ActQParams, quantize_weight_rtn

SAMPLES_PER_VALUE = 1 << 18


def observer_threads() -> int:
    """Threads for the range searches: torch's intra-op thread count (what --threads and
    torch.set_num_threads set), so a calibration uses the cores the rest of the pipeline does."""
    import torch

    return max(1, int(torch.get_num_threads()))


def map_in_threads(fn: Callable, items: Sequence, threads: int | None = None) -> list:
    """[fn(item) for item in items] on a thread pool (NumPy releases the GIL in the searches'
    array operations). Each call computes what it computes alone: same results, same order."""
    threads = observer_threads() if threads is None else threads
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(fn, items))


class ActivationSampler:
    """Streams batches of one tensor: exact min/max plus a seeded uniform subsample."""

    def __init__(self, rng: np.random.Generator, budget: int = SAMPLES_PER_VALUE):
        self.rng, self.budget = rng, budget
        self.lo, self.hi = np.inf, -np.inf
        self.parts: list[np.ndarray] = []
        self.seen = 0

    def add(self, x: np.ndarray) -> None:
        flat = np.asarray(x, np.float32).ravel()
        if not np.all(np.isfinite(flat)):
            raise UserError("calibration produced NaN/Inf activations (check the weights and data)")
        self.lo, self.hi = min(self.lo, float(flat.min())), max(self.hi, float(flat.max()))
        self.parts.append(flat)
        self.seen += flat.size
        if sum(p.size for p in self.parts) > 4 * self.budget:
            self._shrink()

    def _shrink(self) -> None:
        flat = np.concatenate(self.parts)
        if flat.size > self.budget:
            flat = flat[self.rng.choice(flat.size, self.budget, replace=False)]
        self.parts = [flat]

    def samples(self) -> np.ndarray:
        self._shrink()
        return np.concatenate(self.parts + [np.array([self.lo, self.hi], np.float32)])


def collect_activation_samples(graph: Graph, batches: Iterable[np.ndarray], seed: int,
                               run_values: Callable[[Graph, np.ndarray], dict]) -> dict[str, np.ndarray]:
    """Run the float graph on every batch and sample every value."""
    rng = np.random.default_rng(seed)
    samplers = {v: ActivationSampler(rng) for v in graph.values}
    for x in batches:
        if not np.all(np.isfinite(x)):
            raise UserError("calibration data contains NaN/Inf")
        values = run_values(graph, x)
        for name, sampler in samplers.items():
            sampler.add(values[name])
    return {name: s.samples() for name, s in samplers.items()}


def calibrate_activations(graph: Graph, plan: QuantPlan, samples: dict[str, np.ndarray],
                          search: LpSearch = LpSearch(), threads: int | None = None) -> dict[str, ActQParams]:
    members: dict[str, list[str]] = {}
    for v, rep in plan.groups.items():
        members.setdefault(rep, []).append(v)
    observed: list[tuple[str, int]] = []    # (rep or requantized copy, bits): searched grids
    for rep in sorted(members):
        names = sorted(members[rep])
        if not any(n in plan.fixed_grids for n in names):
            observed.append((rep, plan.values[rep]))
    for derived, (source, bits) in sorted(plan.requants.items()):
        if derived not in plan.grid_of:
            observed.append((derived, bits))

    def search_grid(task: tuple[str, int]) -> ActQParams:
        key, bits = task
        if key in members:
            data = np.concatenate([samples[n] for n in sorted(members[key])])
        else:
            data = samples[plan.requants[key][0]]
        return observe_activation(data, bits, plan.observer, search)

    found = dict(zip((key for key, _ in observed), map_in_threads(search_grid, observed, threads)))
    act: dict[str, ActQParams] = {}
    for rep in sorted(members):
        names = sorted(members[rep])
        rules = sorted({plan.fixed_grids[n] for n in names if n in plan.fixed_grids})
        # a bounded activation: its grid is fixed by the op's range
        qp = fixed_grid(rules[0], plan.values[rep]) if rules else found[rep]
        for n in names:
            act[n] = qp
    for derived, (source, bits) in sorted(plan.requants.items()):
        if derived in plan.grid_of:  # a concatenation input copied onto the output's grid
            act[derived] = act[plan.grid_of[derived]]
        else:
            act[derived] = found[derived]
    return act


def calibrate_weights(graph: Graph, plan: QuantPlan, act: dict[str, ActQParams],
                      search: LpSearch = LpSearch(), threads: int | None = None):
    wq, wcodes, bcodes = {}, {}, {}
    layers = []     # (node, weight, bias) as float32, checked before any search
    for node in graph.nodes:
        if node.name in plan.weights:
            w = np.asarray(node.params["weight"], np.float32)
            b = np.asarray(node.params["bias"], np.float32)
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise UserError(f"layer {node.name}: weights contain NaN/Inf")
            layers.append((node, w, b))
    grids = map_in_threads(lambda layer: observe_weight(
        layer[1], plan.weights[layer[0].name], plan.weight_symmetric[layer[0].name], plan.observer, search),
        layers, threads)
    for (node, w, b), qp in zip(layers, grids):
        wq[node.name] = qp
        wcodes[node.name] = quantize_weight_rtn(w, qp)
        s_in = act[plan.node_inputs[node.name][0]].scale
        bcodes[node.name] = bias_codes_for(b, s_in, qp.scale)
    return wq, wcodes, bcodes


def calibrate_rtn(graph: Graph, plan: QuantPlan, batches: Iterable[np.ndarray], *, seed: int = 0,
                  run_values: Callable[[Graph, np.ndarray], dict], meta: dict | None = None) -> QuantizedGraph:
    samples = collect_activation_samples(graph, batches, seed, run_values)
    act = calibrate_activations(graph, plan, samples)
    wq, wcodes, bcodes = calibrate_weights(graph, plan, act)
    return QuantizedGraph(graph=graph, plan=plan, act_qparams=act, weight_qparams=wq,
                          weight_codes=wcodes, bias_codes=bcodes,
                          meta={"method": "rtn", "seed": seed, **(meta or {})})
