"""Gather the report's numbers for every model of a run: accuracy, per-layer SQNR, CAT, levels,
bit-exactness. The result is one JSON-ready dict (what ``catdeploy report --json`` prints)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdeploy.errors import UserError
from catdeploy.report.discover import RunModel
from catdeploy.integer import (catrt_batches, catrt_interpreter, dequantize, eval_profile,
                               integer_logits_with_and_without_cat, prepare_inputs)
from catdeploy.ir.execute import float_values as float_graph_values
from catdeploy.report.metrics import level_limit, nchw_to_nhwc, power_sums, sqnr_db, top1_percent

REPORT_FORMAT = "catdeploy.report"


@dataclass(frozen=True)
class ReportOptions:
    """What to evaluate: DATA, its first `samples` images, verify on the first `verify_samples`."""

    data: str
    samples: int = 256
    verify_samples: int = 32
    resolvers: tuple[str, ...] = ("ref",)
    interpreters: tuple[str, ...] | None = None   # None: every installed one
    data_root: str | None = None
    batch_size: int = 64


def reference_profile() -> str:
    """The catrt profile `catdeploy eval --engine catrt` uses by default (tflite-runtime, ref)."""
    return eval_profile("tflite-runtime", "ref")


def check_single_input(model: RunModel) -> None:
    """The report feeds one image batch: a model with another signature is a bad input file."""
    from catrt import CatrtError

    try:
        rt = catrt_interpreter(model.model_bytes)
    except CatrtError as exc:
        raise UserError(f"{model.path}: {exc}") from None
    if len(rt.get_input_details()) != 1 or not rt.get_output_details():
        raise UserError(f"{model.path}: the report runs models with one image input and at least one output")


class ImageCache:
    """Evaluation images per preprocessing: models calibrated alike share one load."""

    def __init__(self, opts: ReportOptions):
        self.opts, self._cache = opts, {}

    def images_for(self, model: RunModel) -> tuple[np.ndarray, np.ndarray]:
        from catdeploy.pipeline import eval_images, preprocessing_for_model

        prep = preprocessing_for_model(model.path, model.model_bytes, model.qg)
        key = json.dumps(prep.to_dict(), sort_keys=True)
        if key not in self._cache:
            self._cache[key] = eval_images(self.opts.data, self.opts.samples, data_root=self.opts.data_root,
                                           prep=prep)
        return self._cache[key]


def activation_tensors(model_bytes: bytes) -> list[dict]:
    """Non-constant int8 tensors with one scale, in file order: name, shape, scale, zero point."""
    from catrt.reader import read_model

    rows = []
    for t in read_model(model_bytes).tensors:
        q = t.quantization
        if t.is_constant or t.dtype != "int8" or q is None or len(q.scale) != 1:
            continue
        rows.append({"name": t.name, "scale": float(q.scale[0]), "zero_point": int(q.zero_point[0])})
    return rows


def float_partner(tensor: str, output_tensor: str, graph) -> str | None:
    """The float graph value an integer tensor holds: the same name (lowering names a value's
    tensor after it), or the graph output for the program output (e.g. fc/cat of a CAT head)."""
    if tensor in graph.values:
        return tensor
    if tensor == output_tensor and len(graph.outputs) == 1:
        return graph.outputs[0]
    return None


def integer_pass(model: RunModel, x: np.ndarray, batch_size: int) -> dict:
    """One catrt run over x keeping every tensor: output logits, distinct codes per int8 tensor,
    and (for a .qg) SQNR sums against the float graph and the FP logits."""
    rt = catrt_interpreter(model.model_bytes, reference_profile())
    output_tensor = rt.get_output_details()[0].name
    tensors = activation_tensors(model.model_bytes)
    graph = model.qg.graph if model.qg is not None else None
    partners = {t["name"]: float_partner(t["name"], output_tensor, graph) for t in tensors} if graph else {}
    seen = {t["name"]: np.zeros(256, bool) for t in tensors}
    sums = {name: [0.0, 0.0] for name, partner in partners.items() if partner is not None}
    logits, fp_logits = [], []
    for xb, values in catrt_batches(model.model_bytes, x, batch_size, keep_all=True, interpreter=rt):
        logits.append(np.asarray(values[output_tensor]))
        for t in tensors:
            seen[t["name"]][np.unique(values[t["name"]]).astype(np.int64) + 128] = True
        if graph is None:
            continue
        float_values = float_graph_values(graph, xb)
        fp_logits.append(np.asarray(float_values[graph.outputs[0]]))
        for t in tensors:
            if t["name"] not in sums:
                continue
            reference = nchw_to_nhwc(np.asarray(float_values[partners[t["name"]]]))
            approx = dequantize(values[t["name"]], t["scale"], t["zero_point"])
            if reference.shape != approx.shape:  # not the same value after all: leave it out
                sums.pop(t["name"])
                continue
            signal, noise = power_sums(reference, approx)
            sums[t["name"]][0] += signal
            sums[t["name"]][1] += noise
    return {"logits": np.concatenate(logits), "fp_logits": np.concatenate(fp_logits) if fp_logits else None,
            "distinct": {name: int(mask.sum()) for name, mask in seen.items()},
            "sqnr": {name: sqnr_db(*s) for name, s in sums.items()}, "tensor_order": [t["name"] for t in tensors],
            "partners": partners}


def layer_rows(passed: dict, bits: dict[str, int | None]) -> list[dict]:
    """Per-layer SQNR rows in file order (only tensors with a float partner)."""
    return [{"tensor": name, "value": passed["partners"][name], "bits": bits.get(name),
             "sqnr_db": passed["sqnr"][name]}
            for name in passed["tensor_order"] if name in passed["sqnr"]]


def level_rows(passed: dict, bits: dict[str, int | None]) -> list[dict]:
    """Distinct codes each int8 activation tensor took, against its 2^bits."""
    rows = []
    for name in passed["tensor_order"]:
        limit = level_limit(bits.get(name))
        distinct = passed["distinct"][name]
        rows.append({"tensor": name, "bits": bits.get(name), "distinct": distinct, "limit": limit,
                     "within": None if limit is None else distinct <= limit})
    return rows


def cat_info(model: RunModel, inspected: dict, x: np.ndarray, y: np.ndarray) -> dict | None:
    """CAT of the model: selection on held-out calibration images, cluster sizes, and (for a .qg)
    integer top-1 without / with the head on the evaluation images."""
    meta = model.qg.meta if model.qg is not None else (model.manifest or {}).get("calibration") or {}
    selection = meta.get("cat_selection") if isinstance(meta, Mapping) else None
    head = inspected.get("cat_head")
    if selection is None and head is None:
        return None
    selection = selection or {}
    out = {
        "applied": bool(head) if head is not None else bool(selection.get("applied")),
        "clusters": head.get("clusters") if head else None, "alpha": head.get("alpha") if head else None,
        "pca": head.get("pca") if head else None, "cluster_sizes": (head or {}).get("cluster_sizes") or [],
        "held_out_images": selection.get("held_out_images"),
        "heldout_top1_none": selection.get("heldout_top1_none"), "heldout_top1": selection.get("heldout_top1"),
        "heldout_gain": selection.get("heldout_gain"), "gain_low": selection.get("gain_low"),
        "gain_high": selection.get("gain_high"), "reason": selection.get("reason"),
        "candidates": [{k: c.get(k) for k in ("clusters", "alpha", "pca", "heldout_top1", "chosen")}
                       for c in selection.get("candidates", [])],
        "int_top1_without_cat": None, "int_top1_with_cat": None, "eval_gain": None,
    }
    if model.qg is not None and model.qg.cat is not None:
        split = integer_logits_with_and_without_cat(model.qg, x)
        out["int_top1_without_cat"] = top1_percent(split["without_cat"], y)
        out["int_top1_with_cat"] = top1_percent(split["with_cat"], y)
        out["eval_gain"] = out["int_top1_with_cat"] - out["int_top1_without_cat"]
    return out


def model_label(setting: str | None, method: str | None, cat_applied: bool) -> str:
    """"w4a4 rtn +CAT": how a model is named in tables and plots."""
    return " ".join(p for p in (setting or "?", method or "?") if p) + (" +CAT" if cat_applied else "")


def collect_model(model: RunModel, images: ImageCache, opts: ReportOptions) -> dict:
    """Every number of one model except bit-exactness (verified for all models at once)."""
    from catdeploy.check.inspect_model import inspect_model

    x, y = images.images_for(model)
    manifest = model.manifest or {}
    inspected = inspect_model(model.model_bytes, manifest or None, None)
    bits = {row["name"]: row.get("bits") for row in inspected["tensors"]}
    passed = integer_pass(model, x, opts.batch_size)
    cat = cat_info(model, inspected, x, y)
    setting = manifest.get("setting") or (model.qg.plan.setting if model.qg is not None else None)
    method = manifest.get("method") or (model.qg.meta.get("method") if model.qg is not None else None)
    int_top1 = top1_percent(passed["logits"], y)
    fp_top1 = None if passed["fp_logits"] is None else top1_percent(passed["fp_logits"], y)
    return {
        "name": model.name, "kind": model.path.suffix.lstrip("."), "covers": list(model.covers),
        "label": model_label(setting, method, bool(cat and cat["applied"])),
        "setting": setting, "method": method, "size_bytes": len(model.model_bytes),
        "sha256": manifest.get("sha256"), "n": int(len(y)),
        "int_top1": int_top1, "fp_top1": fp_top1,
        "layers": layer_rows(passed, bits) if model.qg is not None else [],
        "levels": level_rows(passed, bits), "cat": cat, "verify": [],
        "budget": budget_point(model.qg) if model.qg is not None else None,
    }


def budget_point(qg) -> dict | None:
    """Where a .qg sits on the storage axis of the Pareto front: the weight bits per parameter and
    BOPs per MAC of its widths over the layers its convention quantizes below 8 bit (catdeploy/mixed),
    the mixed-precision choice and its held-out top-1 when it has one."""
    from catdeploy.mixed.budget import Widths, budget_layers, cost_of, input_bits
    from catdeploy.quant.options import CalibrationOptions

    try:
        layers = budget_layers(qg.graph, CalibrationOptions(convention=qg.plan.convention))
    except UserError:   # nothing below 8 bit under its convention
        return None
    widths = Widths({layer.name: qg.plan.weights[layer.name] for layer in layers},
                    {layer.name: input_bits(qg.plan, layer.name) for layer in layers if layer.act_unit})
    mixed = qg.meta.get("mixed_precision")
    return {**cost_of(layers, widths).to_dict(), "mixed": mixed is not None,
            "held_out_top1": (mixed or {}).get("held_out", {}).get("top1")}


def sensitivity_tables(run_dir: Path) -> list[dict]:
    """The `catdeploy sensitivity -o FILE.sensitivity.json` tables of the run folder, in name order
    (a file that is not such a table is left out)."""
    tables = []
    for path in sorted(Path(run_dir).glob("*.sensitivity.json")):
        try:
            table = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read JSON ({exc})") from None
        if isinstance(table, dict) and isinstance(table.get("rows"), list) and "low" in table:
            tables.append({"file": path.name, **table})
    return tables


def verify_all(models: list[RunModel], images: ImageCache, opts: ReportOptions) -> tuple[list[str], list[list[dict]]]:
    """(interpreters used, per model the verify runs as dicts): catrt against every installed
    interpreter x resolver on the first verify_samples images, every tensor compared."""
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.check.verify import verify_models

    interpreters = list(opts.interpreters) if opts.interpreters is not None else available_interpreters()
    if not interpreters:
        return [], [[] for _ in models]
    cases = []
    for m in models:
        x, _ = images.images_for(m)
        cases.append((m.model_bytes, prepare_inputs(m.model_bytes, x[:opts.verify_samples])))
    reports = verify_models(cases, interpreters, list(opts.resolvers))
    keys = ("interpreter", "version", "resolver", "profile", "tensors_compared", "elements_compared",
            "mismatched_elements", "max_abs_diff", "bit_exact", "error")
    return interpreters, [[{k: r.to_dict()[k] for k in keys} for r in runs] for runs in reports]


def collect(models: list[RunModel], opts: ReportOptions, run_dir: str, log=lambda m: None) -> dict:
    """The report's numbers for all models of a run (JSON-ready)."""
    from catdeploy.check.verify import RESOLVERS

    for resolver in opts.resolvers:
        if resolver not in RESOLVERS:
            raise UserError(f"--resolvers {resolver!r} is not one of {', '.join(RESOLVERS)}")
    if opts.samples < 1:
        raise UserError(f"--samples {opts.samples}: must be at least 1")
    if opts.verify_samples < 1:
        raise UserError(f"--verify-samples {opts.verify_samples}: must be at least 1")
    images = ImageCache(opts)
    for m in models:  # bad DATA, or a model that takes no image batch: one error before any work
        check_single_input(m)
        images.images_for(m)
    rows = []
    for m in models:
        log(f"report: {m.name}: accuracy, per-layer SQNR, levels, CAT")
        rows.append(collect_model(m, images, opts))
    log(f"report: bit-exactness of {len(models)} model(s), resolvers {', '.join(opts.resolvers)}")
    interpreters, runs = verify_all(models, images, opts)
    for row, verify_runs in zip(rows, runs):
        row["verify"] = verify_runs
    return {
        "format": REPORT_FORMAT, "version": 1, "run_dir": str(run_dir), "data": opts.data,
        "samples": opts.samples, "n": rows[0]["n"] if rows else 0, "verify_samples": opts.verify_samples,
        "profile": reference_profile(), "interpreters": interpreters, "resolvers": list(opts.resolvers),
        "bit_exact": all(r["bit_exact"] for row in rows for r in row["verify"]) if interpreters else None,
        "models": rows, "sensitivity": sensitivity_tables(Path(run_dir)),
    }
