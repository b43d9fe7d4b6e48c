"""CAT calibration on a QuantizedGraph: fit on integer logits, select on held-out data, store.

    qg (any base: RTN, reconstruction) + calibration images (+ labels)
      -> integer base logits Q and classifier inputs X (catrt on the lowered program)
      -> FP logits F (float graph)
      -> candidates (K, alpha, PCA) fitted on the fit part (plus augmented views)
      -> each candidate scored on the held-out part with the INTEGER head (catrt on the
         classifier-only program, same ops and constants as the export)
      -> best held-out top-1 (ties: lower squared error to the FP logits); "no correction" is a
         candidate, so the held-out top-1 never drops
      -> qg with cat = fitted parameters + integer grids of the head, meta["cat_selection"] = table
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from catdeploy.cat.fit import A_FLOOR, GAMMA_CAP, SHRINK_TAU, CatParams, fit_cat
from catdeploy.cat.options import CatOptions
from catdeploy.errors import UserError
from catdeploy.integer.metrics import dequantize, top_k
from catdeploy.integer.program import classifier_bytes, program_bytes
from catdeploy.integer.runner import catrt_tensors, output_qparams, run_on_tensor
from catdeploy.quant.quantized_graph import QuantizedGraph

AUTO_CLUSTERS = (1, 4, 8, 16, 32, 64)
AUTO_ALPHAS = (0.2, 0.4, 0.6, 0.8, 1.0)
MIN_SAMPLES_PER_CLUSTER = 8   # auto mode skips K above n_fit / 8
RANGE_MARGIN = 0.1            # head grids cover the calibration range widened by 10 %


def fit_sample_count(samples: int, views: int, held_out_fraction: float = 0.25) -> int:
    """Logits the CAT fit gets from `samples` calibration images: the non-held-out part, with views."""
    return (samples - int(round(held_out_fraction * samples))) * (1 + views)


def check_clusters(clusters: int | None, samples: int, views: int) -> None:
    """A requested K must not exceed the fit samples (checked before any calibration work)."""
    n_fit = fit_sample_count(samples, views)
    if clusters is not None and clusters > n_fit:
        raise UserError(f"--clusters {clusters}: more clusters than the {n_fit} fit samples "
                        f"({samples} calibration images, 25 % held out, {views} views)")


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


def _metrics(logits: np.ndarray, labels: np.ndarray, fp: np.ndarray) -> tuple[float, float]:
    """(top-1 in percent, mean squared error to the FP logits)."""
    return top_k(logits, labels, 1) * 100, float(np.mean((logits - fp) ** 2))


def calibrate_cat(qg: QuantizedGraph, fp_logits_of, images: np.ndarray, labels: np.ndarray | None,
                  opts: CatOptions, log=lambda m: None) -> QuantizedGraph:
    """Fit CAT on `qg` (any base) with calibration `images` (NCHW float) and optional `labels`.

    fp_logits_of(images) -> FP logits. Without labels, held-out top-1 is agreement with the FP
    model's top-1. Returns qg with `cat` set (or None when no correction wins on held-out) and
    the selection table in meta["cat_selection"].
    """
    from catdeploy.cat.views import augmented_views
    from catdeploy.data.splits import held_out_split
    from catdeploy.lower import classifier_node

    node = classifier_node(qg.graph)
    base = replace(qg, cat=None)
    n = len(images)
    fit_idx, held_idx = held_out_split(np.arange(n), opts.held_out_fraction, opts.seed)
    if len(held_idx) < 1 or len(fit_idx) < 2:
        raise UserError(f"CAT needs at least 4 calibration images (got {n}); raise --samples")
    views = augmented_views(images[fit_idx], opts.views, opts.seed)
    fit_images = np.concatenate([images[fit_idx], views]) if len(views) else images[fit_idx]
    model_bytes = program_bytes(base)
    x_name = qg.plan.node_inputs[node.name][0]
    z_scale, z_zp = output_qparams(model_bytes)
    all_images = np.concatenate([fit_images, images[held_idx]])
    log(f"CAT: integer logits of {len(all_images)} images ({len(fit_idx)} fit + {len(views)} views + "
        f"{len(held_idx)} held out)")
    ints = catrt_tensors(model_bytes, all_images, [x_name, node.output])
    q_all = dequantize(ints[node.output], z_scale, z_zp)
    f_all = np.asarray(fp_logits_of(all_images), np.float64)
    n_fit = len(fit_images)
    q_fit, f_fit = q_all[:n_fit], f_all[:n_fit]
    x_held, q_held, f_held = ints[x_name][n_fit:], q_all[n_fit:], f_all[n_fit:]
    y_held = labels[held_idx] if labels is not None else np.argmax(f_held, axis=1)
    classes = q_fit.shape[1]

    none_top1, none_mse = _metrics(q_held, y_held, f_held)
    rows = [{"clusters": 0, "alpha": 0.0, "pca": None, "heldout_top1": none_top1, "heldout_mse": none_mse}]
    best_key, best, best_row = (none_top1, -none_mse, 0), None, 0
    fitted: dict = {}
    for k, alpha, pca in candidate_grid(opts, n_fit, classes):
        key = (k, pca)
        if key not in fitted:
            fitted[key] = fit_cat(q_fit, f_fit, clusters=k, alpha=1.0, pca=pca, seed=opts.seed)
        params = replace(fitted[key], alpha=alpha)
        cand = with_cat(base, params, q_fit, node.name)
        head = classifier_bytes(cand)
        out_scale, out_zp = output_qparams(head)
        logits = dequantize(run_on_tensor(head, x_held), out_scale, out_zp)
        top1, mse = _metrics(logits, y_held, f_held)
        rows.append({"clusters": params.clusters, "alpha": alpha, "pca": pca, "heldout_top1": top1,
                     "heldout_mse": mse})
        cand_key = (top1, -mse, -len(rows))
        if cand_key > best_key:
            best_key, best, best_row = cand_key, (params, top1, mse), len(rows) - 1
    for r in rows:
        r["chosen"] = False
    info = {"fit_images": int(len(fit_idx)), "fit_views": int(len(views)), "fit_logits": int(n_fit),
            "held_out_images": int(len(held_idx)), "held_out_labels": "labels" if labels is not None else "fp-top1",
            "requested_clusters": "auto" if opts.clusters is None else opts.clusters,
            "requested_alpha": "auto" if opts.alpha is None else opts.alpha,
            "heldout_top1_none": none_top1}
    if best is None:
        rows[0]["chosen"] = True
        log(f"CAT: no candidate beats no correction on held-out ({none_top1:.2f} %): not applied")
        meta = {**qg.meta, "cat_selection": {**info, "applied": False, "candidates": rows}}
        return replace(base, meta=meta)
    params, top1, mse = best
    rows[best_row]["chosen"] = True
    fallback = None
    if opts.clusters is not None and params.clusters != opts.clusters:
        fallback = "k1"
    info.update({"applied": True, "heldout_top1": top1, "heldout_gain": top1 - none_top1,
                 "heldout_mse": mse, "heldout_mse_none": none_mse, "fallback": fallback})
    log(f"CAT: K={params.clusters} alpha={params.alpha} pca={params.pca}: held-out top-1 "
        f"{none_top1:.2f} -> {top1:.2f} % ({len(held_idx)} images)")
    out = with_cat(base, params, q_fit, node.name, {"held_out": info})
    return replace(out, meta={**qg.meta, "cat_selection": {**info, "candidates": rows}})
