"""CAT calibration on a QuantizedGraph: fit on many integer logits, select on evidence, store.

    qg (any base: RTN, reconstruction) + the CAT images (a stream of chunks, by default thousands of
    train images the calibration did not use; cat/logits.py)
      -> integer classifier input codes X and logits Q (catrt), FP logits F, kept per image
      -> cross-fitting: the images dealt to `folds` folds; every candidate (K, alpha, PCA) is fitted
         on the other folds and scores each image of a fold with the INTEGER head (catrt on the
         classifier-only program, same ops and constants as the export)
      -> per candidate: paired gain over no correction with its interval, the head's modelled
         latency share and exact file share (cat/cost.py)
      -> the cheapest candidate within one standard error of the best affordable one, applied only
         if its interval lies above zero (cat/evidence.py); a head above --cat-max-cost must gain
         at least PAYS_FOR_ITSELF points at the lower end of its interval
      -> (--clusters K --alpha A both given: that head is applied, with its evidence recorded)
      -> the chosen candidate refitted on every image; qg with cat = its parameters + integer grids,
         meta["cat_selection"] = every candidate's gain, interval and cost, the choice and why
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from catdeploy.cat.cost import file_share, latency_share
from catdeploy.cat.evidence import CONFIDENCE, Choice, choose_by_evidence, correct_top1, paired_gain, simultaneous_z
from catdeploy.cat.fit import A_FLOOR, GAMMA_CAP, SHRINK_TAU, CatParams, fit_cat
from catdeploy.cat.logits import CatLogits, collect_cat_logits
from catdeploy.cat.options import CatOptions
from catdeploy.errors import UserError
from catdeploy.integer.metrics import dequantize
from catdeploy.integer.program import classifier_bytes, program_bytes
from catdeploy.integer.runner import output_qparams, run_on_tensor
from catdeploy.quant.quantized_graph import QuantizedGraph

AUTO_CLUSTERS = (1, 4, 8, 16, 32, 64)
AUTO_ALPHAS = (0.2, 0.4, 0.6, 0.8, 1.0)
MIN_SAMPLES_PER_CLUSTER = 8   # auto mode skips K above n_fit / 8
PAYS_FOR_ITSELF = 1.0         # points of gain (interval's lower end) that admit a head above --cat-max-cost
RANGE_MARGIN = 0.1            # head grids cover the calibration range widened by 10 %


def fit_sample_count(images: int, views: int, folds: int) -> int:
    """Logits each cross-fitted CAT fit gets from `images` CAT images: all folds but one, with views."""
    return (images - -(-images // folds)) * (1 + views)


def check_clusters(clusters: int | None, images: int, views: int, folds: int) -> None:
    """A requested K must not exceed the fit samples (checked before any calibration work)."""
    n_fit = fit_sample_count(images, views, folds)
    if clusters is not None and clusters > n_fit:
        raise UserError(f"--clusters {clusters}: more clusters than the {n_fit} fit samples "
                        f"({images} CAT images, {folds} folds, {views} views)")


def candidate_grid(opts: CatOptions, n_fit: int, classes: int) -> list[tuple[int, float, int | None]]:
    """(K, alpha, PCA size) candidates. A requested K keeps K = 1 as fallback; PCA (half the
    classes) is tried for K > 1 when there are at least 4 classes."""
    if opts.clusters is not None and opts.clusters > n_fit:
        raise UserError(f"--clusters {opts.clusters}: more clusters than the {n_fit} fit samples")
    if opts.clusters is None:
        ks = [k for k in AUTO_CLUSTERS if k == 1 or k * MIN_SAMPLES_PER_CLUSTER <= n_fit]
    else:
        ks = sorted({1, opts.clusters})
    alphas = AUTO_ALPHAS if opts.alpha is None else (opts.alpha,)
    pcas: list[int | None] = [None] + ([max(2, classes // 2)] if classes >= 4 else [])
    out = []
    for k in ks:
        for p in (pcas if k > 1 and opts.clusters is None else [None]):
            for a in alphas:
                out.append((k, a, p))
    return out


def head_ranges(params: CatParams, q: np.ndarray) -> dict:
    """Integer grids of the head from the fit logits: assignment scores (the winning score's
    range) and the corrected logits (every cluster's corrected range), each widened."""
    def widen(lo: float, hi: float) -> list[float]:
        pad = RANGE_MARGIN * max(hi - lo, 1e-6)
        return [float(lo - pad), float(hi + pad)]

    v, d = params.linear_scores()
    top = np.max(np.asarray(q, np.float64) @ v.T + d, axis=1)
    z = params.apply(q)
    return {"score_range": widen(float(top.min()), float(top.max())),
            "output_range": widen(float(z.min()), float(z.max()))}


def with_cat(qg: QuantizedGraph, params: CatParams, q_fit: np.ndarray, layer: str, extra: dict | None = None) -> QuantizedGraph:
    meta, arrays = params.to_archive()
    cat = {"layer": layer, **meta, **head_ranges(params, q_fit), "negative_scale_handling": "floor",
           "a_floor": A_FLOOR, "floored_channels": params.floored_channels(), "gamma_cap": GAMMA_CAP,
           "shrink_tau": SHRINK_TAU, **(extra or {}), **arrays}
    return replace(qg, cat=cat)




def head_logits(base: QuantizedGraph, params: CatParams, q_fit: np.ndarray, layer: str,
                features: np.ndarray) -> tuple[np.ndarray, int]:
    """(dequantized logits of the integer CAT head on the classifier input codes `features`, bytes
    of the classifier-only program)."""
    head = classifier_bytes(with_cat(base, params, q_fit, layer))
    scale, zero_point = output_qparams(head)
    return dequantize(run_on_tensor(head, features), scale, zero_point), len(head)


def calibrate_cat_on_chunks(qg: QuantizedGraph, fp_logits_of, chunks, opts: CatOptions,
                            log=lambda m: None) -> QuantizedGraph:
    """Fit and select CAT (module docstring) on the CAT images streamed as `chunks` of (images,
    labels or None). Returns qg with `cat` set (or None when no candidate shows a significant,
    affordable gain) and the selection in meta["cat_selection"]."""
    from catdeploy.lower import classifier_node

    node = classifier_node(qg.graph)
    base = replace(qg, cat=None)
    data = collect_cat_logits(base, chunks, fp_logits_of, qg.plan.node_inputs[node.name][0], node.output,
                              opts.views, opts.seed, log)
    return select_cat(base, qg.meta, data, opts, node.name, log)


def select_cat(base: QuantizedGraph, meta: dict, data: CatLogits, opts: CatOptions, layer: str,
               log=lambda m: None) -> QuantizedGraph:
    """Cross-fitted selection of CAT on collected logits `data` (module docstring)."""
    images = data.images
    folds = min(opts.folds, images)
    if images < max(2 * folds, 8):
        raise UserError(f"CAT needs at least 8 images (got {images}); raise --cat-samples or --samples")
    fold = data.folds(folds, opts.seed)
    scored = ~data.view
    y = data.targets()
    classes = data.q.shape[1]
    n_fit = fit_sample_count(images, opts.views, folds)
    check_clusters(opts.clusters, images, opts.views, folds)
    none_correct = correct_top1(data.q[scored], y[scored])
    none_top1 = 100.0 * float(none_correct.mean())
    none_mse = float(np.mean((data.q[scored] - data.f[scored]) ** 2))
    base_bytes = len(program_bytes(base))
    base_head = len(classifier_bytes(base))
    # positions of the scored rows of each fold inside the scored vector
    scored_rows = np.flatnonzero(scored)
    position = np.full(len(scored), -1)
    position[scored_rows] = np.arange(len(scored_rows))
    grid = candidate_grid(opts, n_fit, classes)
    logits = {c: np.zeros((len(scored_rows), classes)) for c in grid}
    head_bytes: dict[tuple, int] = {}
    for j in range(folds):
        train = fold != j
        test = (fold == j) & scored
        fitted: dict = {}
        for k, alpha, pca in grid:
            if (k, pca) not in fitted:
                fitted[(k, pca)] = fit_cat(data.q[train], data.f[train], clusters=k, alpha=1.0, pca=pca, seed=opts.seed)
            params = replace(fitted[(k, pca)], alpha=alpha)
            z, size = head_logits(base, params, data.q[train], layer, data.features[test])
            logits[(k, alpha, pca)][position[test]] = z
            head_bytes.setdefault((k, pca), size - base_head)
        log(f"CAT: cross-fitting, fold {j + 1}/{folds} ({len(grid)} candidates)")
    rows = [{"clusters": 0, "alpha": 0.0, "pca": None, "heldout_top1": none_top1, "heldout_mse": none_mse,
             "gain": 0.0, "gain_low": 0.0, "gain_high": 0.0, "latency_share": 0.0, "file_share": 0.0}]
    gains, costs, eligible, order = [], [], [], []
    features = data.features.shape[1]
    z_all = simultaneous_z(len(grid))
    for k, alpha, pca in grid:
        z = logits[(k, alpha, pca)]
        correct = correct_top1(z, y[scored])
        gain = paired_gain(correct, none_correct, z_all)
        latency = latency_share(base.graph, k, features, classes)
        size = file_share(head_bytes[(k, pca)], base_bytes)
        cost = max(latency, size)
        ok = opts.clusters is not None or cost <= opts.max_cost or gain.low >= PAYS_FOR_ITSELF
        gains.append(gain)
        costs.append(cost)
        eligible.append(ok)
        order.append((k, pca is not None))
        rows.append({"clusters": k, "alpha": alpha, "pca": pca, "heldout_top1": 100.0 * float(correct.mean()),
                     "heldout_mse": float(np.mean((z - data.f[scored]) ** 2)), **gain.to_dict(),
                     "latency_share": latency, "file_share": size, "within_cost": ok})
    choice = choose_by_evidence(gains, costs, eligible, order)
    if opts.clusters is not None and opts.alpha is not None:  # the user fixed the head: apply it, say what it shows
        index = grid.index((opts.clusters, opts.alpha, None))
        g = gains[index]
        choice = Choice(index, f"applied: requested by --clusters {opts.clusters} --alpha {opts.alpha:g}; "
                               f"gain {g}" + ("" if g.significant else ", not significant"))
    for r in rows:
        r["chosen"] = False
    info = {"selection": "cross-fitted", "folds": folds, "cat_images": images,
            "fit_images": images, "fit_views": int(np.count_nonzero(data.view)), "fit_logits": int(len(data.q)),
            "held_out_images": images, "held_out_labels": "labels" if data.labels is not None else "fp-top1",
            "requested_clusters": "auto" if opts.clusters is None else opts.clusters,
            "requested_alpha": "auto" if opts.alpha is None else opts.alpha,
            "max_cost": opts.max_cost, "confidence": CONFIDENCE, "simultaneous_over": len(grid),
            "heldout_top1_none": none_top1, "heldout_mse_none": none_mse,
            "reason": choice.reason}
    if choice.index is None:
        rows[0]["chosen"] = True
        log(f"CAT: {choice.reason}")
        return replace(base, meta={**meta, "cat_selection": {**info, "applied": False, "candidates": rows}})
    k, alpha, pca = grid[choice.index]
    row = rows[choice.index + 1]
    row["chosen"] = True
    params = fit_cat(data.q, data.f, clusters=k, alpha=alpha, pca=pca, seed=opts.seed)
    gain = gains[choice.index]
    info.update({"applied": True, "heldout_top1": row["heldout_top1"], "heldout_gain": gain.mean,
                 "heldout_mse": row["heldout_mse"], **gain.to_dict(), "latency_share": row["latency_share"],
                 "file_share": row["file_share"],
                 "fallback": "k1" if opts.clusters is not None and k != opts.clusters else None})
    log(f"CAT: K={k} alpha={alpha} pca={pca}: {choice.reason}")
    out = with_cat(base, params, data.q, layer, {"held_out": info})
    return replace(out, meta={**meta, "cat_selection": {**info, "candidates": rows}})
