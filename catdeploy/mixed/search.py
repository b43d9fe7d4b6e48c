"""Mixed precision under a budget: per-layer widths from the sensitivity table, chosen by an
integer linear program and checked by the integer-exact simulator.

Model of the damage. The held-out damage of one tensor at width b is its measured damage at the
low width (catdeploy/mixed/sensitivity.py) scaled by how much rounding error it carries at b:
  d(b) = d(low) * E(b) / E(low),  E = squared rounding error of its RTN grid (weights) or the
mean squared rounding error of its float samples (activations), d(8) = 0;
the second-order view of HAWQ (loss change ~ sensitivity x perturbation energy) with the
sensitivity measured, not estimated. Damages are taken as additive.

Search. One binary variable per layer and (weight bits, input bits) pair from CANDIDATE_BITS,
exactly one pair per layer, weight storage <= X bits per parameter and BOPs <= X * Y per MAC
(scipy's HiGHS MILP), on the KL damage; solved twice, over every candidate width and over the
widths next to the measured one (where the model is closest to the truth: the damage of
interacting low-width tensors grows faster than their sum, measured on MobileNetV2). The
solutions, the uniform setting that fits the budget and the uniform settings one width narrower
(the points of the next smaller budget) are then run on the held-out images by the integer-exact
simulator, and the best held-out top-1 is kept (lower KL, then less storage, on a tie): a mixed
choice is never worse on held-out images than the uniform one it replaces, nor than uniform at the
next smaller integer budget (FMNIST-R18 RTN: uniform W4A4 beat W5A5 on held-out and test images).

Reconstruction methods (AdaRound, BRECQ, QDrop, PD-Quant) recover much of the weights' rounding
error that RTN leaves, so RTN damages overrate low weight widths: on FMNIST-MBV3S / MBV2 the
choices with the fewest weight bits were ranked last on held-out RTN top-1 and came out best after
QDrop. For those methods (`reconstructed=True`) a third solution is added whose weight damages are
those of one candidate width wider ("ilp-reconstructed"), and the candidates are ranked by their
held-out score with every weight one width wider (the same credit: reconstruction at b bits
taken as worth RTN at the next width), still by the integer-exact simulator. Measured on
FMNIST-MBV3S auto:w4a4 with QDrop fast: credited ranks ilp-reconstructed 89.65 > ilp-near 89.26
> uniform 87.30; after reconstructing both finalists, held-out 89.06 vs 88.28 (same order);
test split 88.89 vs 86.75, uniform W4A4 87.67. The pipeline scores the reconstructed program on
the held-out images again and records that.

`--max-drop P` (activations at 8 bit): the smallest average weight width on a ladder of budgets
(2, 2.25, ..., 8 bits per parameter) whose checked held-out top-1 is within P points of FP, found
by bisection (the checked accuracy is taken as monotone in the budget).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph
from catdeploy.mixed.budget import (CANDIDATE_BITS, AutoBits, BudgetLayer, MixedChoice, Widths, bops_budget,
                                    cost_of, uniform_widths, widest_candidate_at_most)
from catdeploy.mixed.sensitivity import WidthScorer, activation_error, weight_error, with_width

MAX_DROP_LADDER = tuple(2 + 0.25 * i for i in range(25))   # 2, 2.25, ..., 8 bits per parameter


def damage_at_low(scorer: WidthScorer, layers: list[BudgetLayer], low: tuple[int, int],
                  acts_searched: bool, progress: Callable[[str], None]) -> dict[tuple[str, str], dict]:
    """{(layer, kind): {"kl", "top1"}}: held-out damage with only that tensor at its low width and
    every other tensor at 8 bit (clipped at 0: a tensor that helps by chance is taken as harmless),
    on all held-out images, as the checks. (Half of them, 256, made the damages of single tensors
    too noisy to rank: on FMNIST-MBV3S auto:w4a4 QDrop fast the chosen program was 88.89 % on the
    test split with 256, 89.74 % with 512; held-out 89.06 / 90.43 %.)"""
    high = uniform_widths(layers, 8, 8)
    base = scorer.score(high)
    tensors = [(layer.name, "weight") for layer in layers]
    if acts_searched:
        tensors += [(layer.name, "activation") for layer in layers if layer.act_unit]
    damages = {}
    for i, (name, kind) in enumerate(tensors):
        bits = low[0] if kind == "weight" else low[1]
        s = scorer.score(with_width(high, name, kind, bits))
        damages[(name, kind)] = {"kl": max(s["kl"] - base["kl"], 0.0), "top1": max(base["top1"] - s["top1"], 0.0)}
        progress(f"mixed precision: damage {i + 1}/{len(tensors)} ({name} {kind} at {bits} bit)")
    return damages


def damage_curves(scorer: WidthScorer, layers: list[BudgetLayer], damages: dict, low: tuple[int, int],
                  metric: str) -> dict[tuple[str, str], dict[int, float]]:
    """{(layer, kind): {bits: modelled damage}} for every candidate width (module docstring)."""
    options, cache = scorer.options, scorer.cache
    curves = {}
    for (name, kind), measured in damages.items():
        if kind == "weight":
            err = {b: weight_error(cache, name, b, options.symmetric_weights or b == 8, options.observer)
                   for b in CANDIDATE_BITS}
            ref = err[low[0]]
        else:
            value = scorer.cache.graph.node(name).inputs[0]
            err = {b: activation_error(cache, value, b, options.observer) for b in CANDIDATE_BITS}
            ref = err[low[1]]
        curves[(name, kind)] = {b: (0.0 if b == 8 or ref <= 0 else measured[metric] * err[b] / ref)
                                for b in CANDIDATE_BITS}
    return curves


def solve_budget(layers: list[BudgetLayer], curves: dict, weight_budget: float, total_bops: float | None,
                 act_bits: tuple[int, ...], weight_bits: tuple[int, ...] = CANDIDATE_BITS) -> Widths | None:
    """The widths (weights from `weight_bits`, inputs from `act_bits`) minimising the summed
    modelled damage within `weight_budget` bits per parameter and `total_bops` BOPs (None: no BOPs
    budget); None when infeasible."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    pairs, owner, cost, storage, bops = [], [], [], [], []
    for i, layer in enumerate(layers):
        acts = act_bits if layer.act_unit else (8,)
        for bw in weight_bits:
            for ba in acts:
                pairs.append((bw, ba))
                owner.append(i)
                damage = curves[(layer.name, "weight")][bw]
                if layer.act_unit and (layer.name, "activation") in curves:
                    damage += curves[(layer.name, "activation")][ba]
                cost.append(damage)
                storage.append(layer.params * bw)
                bops.append(layer.macs * bw * ba)
    n = len(pairs)
    one_hot = np.zeros((len(layers), n))
    one_hot[owner, np.arange(n)] = 1.0
    params = sum(layer.params for layer in layers)
    macs = sum(layer.macs for layer in layers)
    constraints = [LinearConstraint(one_hot, 1, 1),
                   LinearConstraint(np.asarray(storage, float)[None] / params, -np.inf, weight_budget + 1e-9)]
    if total_bops is not None:
        constraints.append(LinearConstraint(np.asarray(bops, float)[None] / macs, -np.inf, total_bops / macs + 1e-9))
    # a tiny tie-break toward fewer stored bits keeps the solution unique and small
    c = np.asarray(cost) + 1e-9 * np.asarray(storage) / params
    result = milp(c, constraints=constraints, integrality=np.ones(n), bounds=Bounds(0, 1),
                  options={"time_limit": 60.0})
    if result.x is None:
        return None
    chosen = np.flatnonzero(result.x > 0.5)
    weights, acts = {}, {}
    for k in chosen:
        layer = layers[owner[k]]
        weights[layer.name] = pairs[k][0]
        if layer.act_unit:
            acts[layer.name] = pairs[k][1]
    return Widths(weights, acts)


def nothing_to_trade(layers: list[BudgetLayer], x: float, y: float, low: tuple[int, int]) -> bool:
    """True when the uniform `low` widths are the only choice within the budget: the weights sit at
    the narrowest width and no single layer's weights fit one step wider, and the activations can
    neither be traded among themselves (they are at the narrowest too) nor one widened."""
    narrowest, step = CANDIDATE_BITS[0], CANDIDATE_BITS[1]
    params = sum(layer.params for layer in layers)
    if low[0] != narrowest:
        return False
    slack = bops_budget(layers, x, y) - cost_of(layers, uniform_widths(layers, *low)).bops
    weight_fits = any(layer.params / params <= x - narrowest + 1e-9
                      and layer.macs * (step - narrowest) * (low[1] if layer.act_unit else 8) <= slack + 1e-6
                      for layer in layers)
    act_fits = low[1] != narrowest or any(
        layer.act_unit and layer.macs * narrowest * (step - narrowest) <= slack + 1e-6 for layer in layers)
    if low[1] == CANDIDATE_BITS[-1]:
        act_fits = False
    return not weight_fits and not act_fits


def near(bits: int) -> tuple[int, ...]:
    """The candidate widths next to `bits` (one step down, itself, one step up): where the damage
    model, measured at `bits`, is closest to the truth (the "ilp-near" solution's trust region)."""
    i = CANDIDATE_BITS.index(bits)
    return CANDIDATE_BITS[max(0, i - 1):i + 2]


def one_width_narrower(bits: int) -> int:
    """The next candidate width below `bits` (the narrowest stays itself)."""
    i = CANDIDATE_BITS.index(bits)
    return CANDIDATE_BITS[max(i - 1, 0)]


def narrower_uniform_settings(low: tuple[int, int]) -> list[tuple[int, int]]:
    """The uniform settings one candidate width narrower than `low` in the weights, the
    activations or both: they fit every budget that `low` fits, so a budget is never checked
    against fewer uniform points than the next smaller integer budget (the Pareto curve of the
    checked held-out top-1 does not fall when the budget grows from one integer width to the next)."""
    w, a = low
    settings = [(one_width_narrower(w), a), (w, one_width_narrower(a)), (one_width_narrower(w), one_width_narrower(a))]
    return [s for s in dict.fromkeys(settings) if s != low]


def one_width_wider(bits: int) -> int:
    """The next candidate width above `bits` (8 stays 8)."""
    i = CANDIDATE_BITS.index(bits)
    return CANDIDATE_BITS[min(i + 1, len(CANDIDATE_BITS) - 1)]


def weights_one_width_wider(widths: Widths) -> Widths:
    """`widths` with every weight one candidate width wider: the reconstruction credit."""
    return Widths({name: one_width_wider(b) for name, b in widths.weights.items()}, widths.acts)


def credited_curves(curves: dict) -> dict:
    """Damage curves whose weight damage at b is the modelled damage at one width wider."""
    return {key: ({b: curve[one_width_wider(b)] for b in curve} if key[1] == "weight" else curve)
            for key, curve in curves.items()}


def _rank(scored: tuple[Widths, dict, float]) -> tuple:
    widths, score, storage = scored
    return (-round(score["top1"], 9), round(score["kl"], 12), storage)


def choose_within_budget(scorer: WidthScorer, layers: list[BudgetLayer], auto: AutoBits,
                         progress: Callable[[str], None] = lambda m: None,
                         reconstructed: bool = False) -> MixedChoice:
    """`--bits auto:wXaY`: the best checked widths within X bits per parameter and X * Y BOPs per
    MAC (ranked with the reconstruction credit when `reconstructed`, module docstring)."""
    x, y = auto.weight_bits, auto.act_bits
    low = (widest_candidate_at_most(x), widest_candidate_at_most(y))
    uniform = uniform_widths(layers, *low)
    notes = []
    if nothing_to_trade(layers, x, y, low):
        notes.append(f"the budget w{x:g}a{y:g} leaves nothing to trade (no layer can be widened within it): "
                     f"uniform w{low[0]}a{low[1]}")
        return MixedChoice(str(auto), uniform, cost_of(layers, uniform), scorer.score(uniform, low), tuple(notes))
    damages = damage_at_low(scorer, layers, low, True, progress)
    curves = damage_curves(scorer, layers, damages, low, "kl")
    candidates = {"uniform": uniform}
    for bits in narrower_uniform_settings(low):
        candidates[f"uniform w{bits[0]}a{bits[1]}"] = uniform_widths(layers, *bits)
    searches = {"ilp": (curves, CANDIDATE_BITS, CANDIDATE_BITS), "ilp-near": (curves, near(low[0]), near(low[1]))}
    if reconstructed:
        searches["ilp-reconstructed"] = (credited_curves(curves), CANDIDATE_BITS, CANDIDATE_BITS)
    for name, (model, w_bits, a_bits) in searches.items():
        solved = solve_budget(layers, model, x, bops_budget(layers, x, y), a_bits, w_bits)
        if solved is not None and solved not in candidates.values():
            candidates[name] = solved
    scored = {name: (w, scorer.score(w, low), cost_of(layers, w).weight_storage_bits) for name, w in candidates.items()}
    best = min(scored, key=lambda name: _rank(scored[name]))
    for name, (w, s, _) in scored.items():
        notes.append(f"{name}: held-out top-1 {s['top1']:.2f} %, KL {s['kl']:.4f}, "
                     f"{cost_of(layers, w).weight_bits:.3f} bits/parameter, {cost_of(layers, w).bops_per_mac:.2f} BOPs/MAC")
    if reconstructed:
        floor = (one_width_wider(low[0]), low[1])
        credited = {name: (w, scorer.score(weights_one_width_wider(w), floor), storage)
                    for name, (w, _, storage) in scored.items()}
        for name, (_, s, _) in credited.items():
            notes.append(f"{name}, weights one width wider (reconstruction credit): held-out top-1 {s['top1']:.2f} %")
        best = min(credited, key=lambda name: _rank(credited[name]))
    notes.append(f"chosen: {best}")
    widths = scored[best][0]
    return MixedChoice(str(auto), widths, cost_of(layers, widths), scored[best][1], tuple(notes))


def choose_max_drop(scorer: WidthScorer, layers: list[BudgetLayer], auto: AutoBits,
                    progress: Callable[[str], None] = lambda m: None) -> MixedChoice:
    """`--bits auto --max-drop P`: the smallest checked weight storage within P points of FP
    (activations at 8 bit)."""
    target = scorer.held.fp_top1 - auto.max_drop
    low = (4, 8)
    damages = damage_at_low(scorer, layers, low, False, progress)
    curves = damage_curves(scorer, layers, damages, low, "kl")
    solved: dict[float, tuple[Widths, dict]] = {}

    def check(budget: float) -> tuple[Widths, dict]:
        if budget not in solved:
            widths = solve_budget(layers, curves, budget, None, (8,))
            solved[budget] = (widths, scorer.score(widths))
            progress(f"mixed precision: {budget:g} bits/parameter -> held-out top-1 {solved[budget][1]['top1']:.2f} %")
        return solved[budget]

    lo, hi = 0, len(MAX_DROP_LADDER) - 1
    notes = [f"target: held-out top-1 >= {target:.2f} % (FP {scorer.held.fp_top1:.2f} % - {auto.max_drop:g})"]
    if check(MAX_DROP_LADDER[hi])[1]["top1"] < target:
        notes.append("even 8-bit weights miss the target: 8-bit weights chosen")
        lo = hi
    while lo < hi:
        mid = (lo + hi) // 2
        if check(MAX_DROP_LADDER[mid])[1]["top1"] >= target:
            hi = mid
        else:
            lo = mid + 1
    widths, score = check(MAX_DROP_LADDER[lo])
    notes.append(f"smallest budget that holds: {MAX_DROP_LADDER[lo]:g} bits/parameter")
    return MixedChoice(str(auto), widths, cost_of(layers, widths), score, tuple(notes))


def choose_widths(scorer: WidthScorer, layers: list[BudgetLayer], auto: AutoBits,
                  progress: Callable[[str], None] = lambda m: None, reconstructed: bool = False) -> MixedChoice:
    """The mixed-precision choice for `auto` (a budget or a maximum drop); `reconstructed`: the
    method reconstructs the weights (the reconstruction credit, see above)."""
    if auto.max_drop is not None:
        return choose_max_drop(scorer, layers, auto, progress)
    if not math.isfinite(auto.weight_bits * auto.act_bits):
        raise UserError(f"--bits {auto}: not a finite budget")
    return choose_within_budget(scorer, layers, auto, progress, reconstructed)
