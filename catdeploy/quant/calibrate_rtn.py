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
from catdeploy.quant.qparams import ActQParams, WeightQParams, quantize_weight_rtn

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


class GridCache:
    """RTN grids of one graph's float samples, each searched once per (tensor, width, rule).

    Activation grids are observed on the float activations and weight grids on the float weights,
    so the grid of a tensor at a width does not depend on the widths of the others: every plan of
    the same graph calibrates from one cache without another pass over the images (what the
    mixed-precision sensitivity and search do: catdeploy/mixed). `calibrate_rtn` goes through it
    too, so both give the same grids."""

    def __init__(self, graph: Graph, samples: dict[str, np.ndarray], search: LpSearch = LpSearch()):
        self.graph, self.samples, self.search = graph, samples, search
        self._act: dict[tuple, ActQParams] = {}
        self._weight: dict[tuple, tuple[WeightQParams, np.ndarray]] = {}
        self._layers = {n.name: n for n in graph.nodes}

    def float_param(self, node_name: str, key: str) -> np.ndarray:
        """A weighted node's float32 "weight" or "bias"."""
        return np.asarray(self._layers[node_name].params[key], np.float32)

    def activation_grids(self, tasks: Sequence[tuple[tuple[str, ...], int, str]],
                         threads: int | None = None) -> list[ActQParams]:
        """The grid of each (sampled values, bits, observer) task; the values' samples are pooled."""
        missing = list(dict.fromkeys(t for t in tasks if t not in self._act))

        def search_grid(task: tuple[tuple[str, ...], int, str]) -> ActQParams:
            names, bits, observer = task
            data = np.concatenate([self.samples[n] for n in names]) if len(names) > 1 else self.samples[names[0]]
            return observe_activation(data, bits, observer, self.search)

        self._act.update(zip(missing, map_in_threads(search_grid, missing, threads)))
        return [self._act[t] for t in tasks]

    def weight_grids(self, tasks: Sequence[tuple[str, int, bool, str]],
                     threads: int | None = None) -> list[tuple[WeightQParams, np.ndarray]]:
        """(grid, int8 codes) of each (weighted node, bits, symmetric, observer) task."""
        missing = list(dict.fromkeys(t for t in tasks if t not in self._weight))
        for name, *_ in missing:
            w, b = self.float_param(name, "weight"), self.float_param(name, "bias")
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise UserError(f"layer {name}: weights contain NaN/Inf")

        def search_grid(task: tuple[str, int, bool, str]) -> tuple[WeightQParams, np.ndarray]:
            name, bits, symmetric, observer = task
            w = self.float_param(name, "weight")
            qp = observe_weight(w, bits, symmetric, observer, self.search)
            return qp, quantize_weight_rtn(w, qp)

        self._weight.update(zip(missing, map_in_threads(search_grid, missing, threads)))
        return [self._weight[t] for t in tasks]


def calibrate_activations(graph: Graph, plan: QuantPlan, cache: GridCache,
                          threads: int | None = None) -> dict[str, ActQParams]:
    """{value (and requantized copy): grid} of `plan`: one observed grid per qparam group (its
    members' samples pooled) and per requantized copy (its source's samples), fixed grids for
    bounded activations, a concatenation input's copy on the output's grid."""
    members: dict[str, list[str]] = {}
    for v, rep in plan.groups.items():
        members.setdefault(rep, []).append(v)
    observed: list[tuple[str, tuple[tuple[str, ...], int, str]]] = []   # (rep or copy, search task)
    for rep in sorted(members):
        names = sorted(members[rep])
        if not any(n in plan.fixed_grids for n in names):
            observed.append((rep, (tuple(names), plan.values[rep], plan.observer)))
    for derived, (source, bits) in sorted(plan.requants.items()):
        if derived not in plan.grid_of:
            observed.append((derived, ((source,), bits, plan.observer)))
    found = dict(zip((key for key, _ in observed), cache.activation_grids([t for _, t in observed], threads)))
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


def calibrate_weights(graph: Graph, plan: QuantPlan, act: dict[str, ActQParams], cache: GridCache,
                      threads: int | None = None):
    """({node: grid}, {node: int8 codes}, {node: int32 bias codes on s_in * s_w}) of `plan`."""
    names = [n.name for n in graph.nodes if n.name in plan.weights]
    grids = cache.weight_grids([(name, plan.weights[name], plan.weight_symmetric[name], plan.observer)
                                for name in names], threads)
    wq, wcodes, bcodes = {}, {}, {}
    for name, (qp, codes) in zip(names, grids):
        wq[name], wcodes[name] = qp, codes
        s_in = act[plan.node_inputs[name][0]].scale
        bcodes[name] = bias_codes_for(cache.float_param(name, "bias"), s_in, qp.scale)
    return wq, wcodes, bcodes


def calibrate_from_cache(plan: QuantPlan, cache: GridCache, meta: dict | None = None) -> QuantizedGraph:
    """The RTN QuantizedGraph of `plan` from grids searched once (GridCache)."""
    act = calibrate_activations(cache.graph, plan, cache)
    wq, wcodes, bcodes = calibrate_weights(cache.graph, plan, act, cache)
    return QuantizedGraph(graph=cache.graph, plan=plan, act_qparams=act, weight_qparams=wq,
                          weight_codes=wcodes, bias_codes=bcodes, meta={"method": "rtn", **(meta or {})})


def calibrate_rtn(graph: Graph, plan: QuantPlan, batches: Iterable[np.ndarray], *, seed: int = 0,
                  run_values: Callable[[Graph, np.ndarray], dict], meta: dict | None = None) -> QuantizedGraph:
    """RTN: sample every value of the float graph on `batches`, then the grids and codes of `plan`."""
    cache = GridCache(graph, collect_activation_samples(graph, batches, seed, run_values))
    return calibrate_from_cache(plan, cache, meta={"seed": seed, **(meta or {})})
