"""Reconstruction PTQ: optimise each unit of a QuantizedGraph against the full-precision model.

Units run in network order. Two caches over the calibration images walk the graph with them: the
full-precision values and the quantized values (each unit's quantized input comes from the units
already reconstructed and hardened). A cached value is dropped as soon as no later node reads it,
and the caches must fit `memory_budget` bytes. Per unit (methods.py for what each method turns on):

    loss = sum_c (y_q - y_fp)^2 (mean over batch and positions)       BRECQ's reconstruction error
         + round_weight * sum (1 - |2 h(V) - 1|^beta)                 AdaRound regulariser, after warm-up
         + KL(softmax(z_fp / T) || softmax(z_q / T)) / 0.1            PD-Quant, z_q = rest of the FP
                                                                       network on y_q
PD-Quant also corrects the unit's full-precision input towards the BatchNorm statistics of the
first layer reading it before the targets are computed (distribution_correction).
AdaRound's V (Adam, lr 3e-3) and the activation steps (Adam, lr 4e-5, cosine) are updated; then the
rounding is hardened and the next unit starts. Deterministic for a given seed (seeded generators).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from catdeploy.errors import UserError
from catdeploy.ir.float_ops import FLOAT_OPS
from catdeploy.quant.plan import WEIGHTED_OPS
from catdeploy.quant.quantized_graph import QuantizedGraph
from catdeploy.quant.recon.methods import Hyper, hyper_for, method_config, preset as preset_named
from catdeploy.quant.recon.units import Unit, units_for
from catdeploy.quant.simulate import QuantSimulator, grid_key, qdrop_keep_float, rectified_sigmoid

DEFAULT_MEMORY_BUDGET = 6 << 30


@dataclass(frozen=True)
class StepReport:
    unit: str
    unit_index: int
    units: int
    iteration: int
    iterations: int
    loss: float


ProgressFn = Callable[[StepReport], None]


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """4-D batches in NHWC memory order: oneDNN's convolutions (forward and backward) run about a
    third faster on CPU than on NCHW; the values are the same tensors."""
    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x


def rounding_regulariser(v: torch.Tensor, beta: float) -> torch.Tensor:
    """AdaRound's f_reg = sum(1 - |2 h(V) - 1|^beta), as plain autograd expressions: the reference
    the fused step (simulate.QuantSimulator.prepare_soft_weights) is tested against."""
    return (1 - (2 * rectified_sigmoid(v) - 1).abs().pow(beta)).sum()


def beta_schedule(iteration: int, iterations: int, hyper: Hyper) -> float | None:
    """None during warm-up, then linear decay from beta_start to beta_end (AdaRound's TempDecay)."""
    start = int(hyper.warmup * iterations)
    if iteration < start:
        return None
    t = (iteration - start) / max(1, iterations - start)
    return hyper.beta_end + (hyper.beta_start - hyper.beta_end) * max(0.0, 1.0 - t)


def prediction_difference(z_q: torch.Tensor, z_fp: torch.Tensor, temperature: float, divisor: float) -> torch.Tensor:
    """KL(softmax(z_fp / T) || softmax(z_q / T)) averaged over the batch, divided by `divisor`."""
    log_q = F.log_softmax(z_q / temperature, dim=1)
    p = F.softmax(z_fp / temperature, dim=1)
    return F.kl_div(log_q, p, reduction="batchmean") / divisor


def reconstruction_error(y_q: torch.Tensor, y_fp: torch.Tensor) -> torch.Tensor:
    """BRECQ's lp_loss (p = 2): squared error summed over channels, mean over batch and positions."""
    return (y_q - y_fp).pow(2).sum(1).mean()


class _Caches:
    """Full-precision and quantized values of the calibration set, advanced node by node."""

    def __init__(self, sim: QuantSimulator, images: torch.Tensor, budget: int):
        self.sim, self.graph, self.budget = sim, sim.graph, budget
        self.fp_params = {n.name: {k: torch.from_numpy(np.asarray(v, np.float32)).to(sim.device)
                                   for k, v in n.params.items()} for n in self.graph.nodes}
        self.last_reader: dict[str, int] = {}
        for i, node in enumerate(self.graph.nodes):
            for v in node.inputs:
                self.last_reader[v] = i
        for v in self.graph.outputs:
            self.last_reader[v] = len(self.graph.nodes)
        x = self.graph.inputs[0]
        self.fp = {x: images}
        with torch.no_grad():
            self.q = self._batched(lambda xb: sim.input_values(xb)[x], images)
        self.q = {x: self.q}
        self.position = 0

    @staticmethod
    def _batched(fn, x: torch.Tensor, size: int = 256) -> torch.Tensor:
        return torch.cat([fn(x[i:i + size]) for i in range(0, len(x), size)])

    def fp_node(self, node, env: dict) -> torch.Tensor:
        return FLOAT_OPS[node.kind](node, [env[v] for v in node.inputs], self.fp_params[node.name])

    def advance_to(self, index: int) -> None:
        """Run nodes [position, index) on both caches (quantized: hard codes, no QDrop)."""
        with torch.no_grad():
            while self.position < index:
                node = self.graph.nodes[self.position]
                self.fp[node.output] = self._run_batched(lambda env: self.fp_node(node, env), self.fp, node)
                self.q[node.output] = self._run_batched(lambda env: self.sim.run_node(node, env), self.q, node)
                self.position += 1
                self._drop_dead()

    def _run_batched(self, fn, cache: dict, node, size: int = 256) -> torch.Tensor:
        sources = {self.sim.plan.requants[v][0] if v in self.sim.plan.requants else v
                   for v in self.sim.plan.node_inputs[node.name]} | set(node.inputs)
        n = len(next(iter(cache.values())))
        parts = []
        for i in range(0, n, size):
            env = {v: cache[v][i:i + size] for v in sources}
            parts.append(fn(env))
        return torch.cat(parts)

    def _drop_dead(self) -> None:
        for cache in (self.fp, self.q):
            for v in [v for v in cache if self.last_reader.get(v, -1) < self.position]:
                del cache[v]
        used = sum(t.numel() * t.element_size() for c in (self.fp, self.q) for t in c.values())
        if used > self.budget:
            raise UserError(f"reconstruction caches need {used / 2**30:.1f} GiB, over the "
                            f"{self.budget / 2**30:.1f} GiB budget: use fewer --samples")


def _unit_targets(caches: _Caches, unit: Unit, x_fp: dict) -> torch.Tensor:
    """The full-precision output of `unit` on its full-precision inputs `x_fp`."""
    env = dict(x_fp)
    with torch.no_grad():
        for name in unit.nodes:
            node = caches.sim.nodes[name]
            env[node.output] = caches._run_batched(lambda e: caches.fp_node(node, e), env, node)
    return env[unit.output]


def _rest_of_network(caches: _Caches, unit: Unit):
    """z = remaining full-precision layers applied to the unit's output (block units only)."""
    nodes = caches.graph.nodes
    last = max(i for i, n in enumerate(nodes) if n.name in unit.nodes)
    rest = nodes[last + 1:]

    def run(y: torch.Tensor) -> torch.Tensor:
        env = {unit.output: y}
        for node in rest:
            env[node.output] = caches.fp_node(node, env)
        return env[caches.graph.outputs[0]]
    return run


def _pre_activation(node, x: torch.Tensor, params: dict) -> torch.Tensor:
    """The node's float output before its fused activation."""
    from dataclasses import replace as dc_replace

    plain = dc_replace(node, attrs={**dict(node.attrs), "activation": "none"})
    return FLOAT_OPS[node.kind](plain, [x], {"weight": params["weight"], "bias": params["bias"]})


def distribution_correction(caches: _Caches, unit: Unit, x_fp: torch.Tensor, steps: int, seed: int,
                            batch_size: int = 256, lr: float = 1e-2, closeness: float = 1.0) -> torch.Tensor:
    """PD-Quant's DC: nudge the unit's full-precision input so that the first layer reading it
    produces, before its activation, the population statistics its BatchNorm recorded (mean beta,
    std |gamma|, params bn_mean / bn_std), staying close to the original input; `steps` Adam steps
    on seeded mini-batches. Units whose first layer had no BatchNorm are returned unchanged."""
    source = unit.inputs[0]
    readers = [caches.sim.nodes[n] for n in unit.nodes
               if source in caches.graph.node(n).inputs and "bn_mean" in caches.graph.node(n).params]
    if steps <= 0 or not readers:
        return x_fp
    node = readers[0]
    params = caches.fp_params[node.name]
    mean_t, std_t = params["bn_mean"], params["bn_std"]
    corrected = x_fp.clone().requires_grad_(True)
    opt = torch.optim.Adam([corrected], lr=lr)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = len(x_fp)
    for _ in range(steps):
        idx = torch.randperm(n, generator=gen)[:min(batch_size, n)].to(x_fp.device)
        y = _pre_activation(node, corrected[idx], params)
        dims = [0] + list(range(2, y.ndim))
        loss = ((y.mean(dims) - mean_t).pow(2).mean() + (y.std(dims) - std_t).pow(2).mean()
                + closeness * (corrected[idx] - x_fp[idx]).pow(2).mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return corrected.detach()


def reconstruct(qg: QuantizedGraph, images: np.ndarray, *, method: str, preset: str = "default",
                seed: int = 0, device: str = "cpu", iterations: int | None = None,
                memory_budget: int = DEFAULT_MEMORY_BUDGET, progress: ProgressFn | None = None) -> QuantizedGraph:
    """Reconstruct `qg` (an RTN QuantizedGraph) on calibration `images` (float NCHW)."""
    cfg = method_config(method)
    p = preset_named(preset)
    iters = int(iterations if iterations is not None else p.iterations)
    hyper = hyper_for(qg.meta.get("model"))
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available")
    torch.manual_seed(seed)
    sim = QuantSimulator(qg, device)
    x = torch.from_numpy(np.ascontiguousarray(images, np.float32)).to(sim.device)
    caches = _Caches(sim, x, memory_budget)
    fp_logits = None
    if cfg.prediction_difference:
        with torch.no_grad():
            fp_logits = caches._batched(lambda xb: _fp_logits(caches, xb), x)
    units = units_for(qg.graph, cfg.granularity)
    index_of = {n.name: i for i, n in enumerate(qg.graph.nodes)}
    learned: set[str] = set()
    n = len(x)
    for u_index, unit in enumerate(units):
        caches.advance_to(index_of[unit.nodes[0]])
        x_q = {v: caches.q[v] for v in unit.inputs}
        x_fp = {v: caches.fp[v] for v in unit.inputs}
        if cfg.prediction_difference and cfg.granularity == "block" and p.correction_steps:
            x_fp = {v: distribution_correction(caches, unit, x_fp[v], p.correction_steps, seed * 1000003 + u_index)
                    for v in unit.inputs}
        y_fp = _unit_targets(caches, unit, x_fp)
        rest = _rest_of_network(caches, unit) if cfg.prediction_difference and cfg.granularity == "block" else None
        weighted = [name for name in unit.nodes if sim.nodes[name].kind in WEIGHTED_OPS]
        rounding = [sim.init_adaround(name).requires_grad_(True) for name in weighted]
        scales = []
        if cfg.learn_act:
            keys = []
            for name in unit.nodes:
                node = sim.nodes[name]
                keys.append(grid_key(qg, node.output))
                keys += [grid_key(qg, v) for v in sim.plan.node_inputs[name] if v in sim.plan.requants]
            for key in dict.fromkeys(keys):
                if key in learned or key in sim.fixed_grids:
                    continue
                learned.add(key)
                sim.act_scales[key] = sim.act_scales[key].clone().requires_grad_(True)
                scales.append(sim.act_scales[key])
        optimizers = [torch.optim.Adam(rounding, lr=hyper.weight_lr, fused=True)] if rounding else []
        schedulers = []
        if scales:
            opt = torch.optim.Adam(scales, lr=hyper.act_lr)
            optimizers.append(opt)
            schedulers.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=iters, eta_min=0.0))
        gen = torch.Generator(device="cpu").manual_seed(seed * 1000003 + u_index)
        drop_generator = torch.Generator(device=sim.device).manual_seed(seed * 1000003 + u_index + 1)
        for it in range(iters):
            idx = torch.randperm(n, generator=gen)[:min(p.batch_size, n)].to(sim.device)
            env = {}
            for v in unit.inputs:
                xb = x_q[v][idx]
                keep_fp = qdrop_keep_float(xb, cfg.drop_prob, drop_generator)
                if keep_fp is not None:
                    xb = torch.where(keep_fp, x_fp[v][idx], xb)
                env[v] = channels_last(xb)
            beta = beta_schedule(it, iters, hyper)
            regulariser = sim.prepare_soft_weights(weighted, beta)
            sim.run_nodes(unit.nodes, env, drop_prob=cfg.drop_prob, generator=drop_generator)
            y = env[unit.output]
            loss = reconstruction_error(y, channels_last(y_fp[idx]))
            if beta is not None:
                loss = loss + hyper.round_weight * regulariser
            if rest is not None:
                loss = loss + prediction_difference(rest(y), fp_logits[idx], hyper.temperature, hyper.pd_divisor)
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            sim.clear_soft_weights()
            for opt in optimizers:
                opt.step()
            for sched in schedulers:
                sched.step()
            with torch.no_grad():
                for s in scales:
                    s.clamp_(min=1e-8)
            if progress is not None:
                progress(StepReport(unit.name, u_index, len(units), it + 1, iters, float(loss.detach())))
        for name in weighted:
            sim.harden(name)
        for key in list(sim.act_scales):
            sim.act_scales[key] = sim.act_scales[key].detach()
    return sim.to_quantized_graph(meta={"method": method, "preset": preset, "iterations": iters})


def _fp_logits(caches: _Caches, x: torch.Tensor) -> torch.Tensor:
    env = {caches.graph.inputs[0]: x}
    for node in caches.graph.nodes:
        env[node.output] = caches.fp_node(node, env)
    return env[caches.graph.outputs[0]]
