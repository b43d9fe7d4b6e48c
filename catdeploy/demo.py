"""`catdeploy demo`: the whole pipeline on the embedded default model, offline, in a few minutes.

For each bit setting (default W4A4 and W2A4): calibration (method "auto": BRECQ reconstruction at
the fast preset where weights or activations have 2 bits, where round-to-nearest collapses; RTN
with Lp-searched ranges at 4 bits and up, where reconstruction adds under 0.2 points and would
double the demo's time), CAT fitted on the integer logits (K and alpha selected on a held-out part
of the calibration images), export of the integer graph with the CAT head folded in, bit-exactness
of every tensor against every installed TFLite interpreter (reference resolver), and integer top-1
without and with CAT.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np

from catdeploy import api
from catdeploy.cat.options import CatOptions
from catdeploy.integer import integer_logits_with_and_without_cat, prepare_inputs, top_k
from catdeploy.pipeline import calibrate_model, eval_images, export_quantized
from catdeploy.quant.options import CalibrationOptions

DEMO_EVAL_SAMPLES = 2000
DEMO_RECONSTRUCTION = "brecq"   # the "auto" method at 2 bits (fast preset)


def demo_method(bits: str, method: str = "auto") -> str:
    """The calibration method of one demo row: `method`, or for "auto" BRECQ when weights or
    activations have 2 bits and RTN otherwise."""
    if method != "auto":
        return method
    return DEMO_RECONSTRUCTION if "2" in bits.replace("w", " ").replace("a", " ").split() else "rtn"


def default_model() -> tuple[str, Path, dict]:
    """(architecture, weights path, recorded training info) of the embedded default model."""
    from catdeploy.assets import DEFAULT_MODEL_PATH, default_model_info

    info = default_model_info()
    return info["model"], DEFAULT_MODEL_PATH, info


def run_demo(out_dir: Path, *, bits: tuple[str, ...] = ("w4a4", "w2a4"), method: str = "auto",
             preset: str = "fast", verify_samples: int = 128, eval_samples: int | None = DEMO_EVAL_SAMPLES,
             data: str = "fashion-mnist", log=print, progress=None) -> dict:
    """`progress(method)`: a context manager giving calibrate_model's progress callback (the CLI's
    progress bar), or None for no bar."""
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.check.verify import verify_model

    out_dir.mkdir(parents=True, exist_ok=True)
    model, weights, info = default_model()
    log(f"model: {model} (embedded, trained by: {info.get('command', '?')}; FP test top-1 {info.get('test_top1')})")
    x_ver, _ = eval_images(data, verify_samples)
    x_eval, y_eval = eval_images(data, eval_samples)
    torch_model, _ = api.load_float_model(model, str(weights))
    fp_top1 = float_top1(torch_model, x_eval, y_eval)
    interps = list(available_interpreters())
    rows = []
    for setting in bits:
        t0 = time.perf_counter()
        row_method = demo_method(setting, method)
        with (progress or _no_progress)(row_method) as update:
            qg = calibrate_model(model, str(weights), data,
                                 CalibrationOptions(bits=setting, method=row_method, preset=preset),
                                 CatOptions(enabled=True), log=log, progress=update)
        calib_s = round(time.perf_counter() - t0, 1)
        sel = qg.meta.get("cat_selection", {})
        base = "RTN (Lp-searched ranges)" if row_method == "rtn" else f"{row_method} ({preset} preset)"
        log(f"{setting}: {base} + CAT calibrated on {qg.meta.get('calibration_images')} images in {calib_s} s")
        tfl = out_dir / f"{model}_{setting}_cat.tflite"
        manifest = export_quantized(qg, tfl, force=True, source={"model": model, "weights": str(weights)})
        model_bytes = tfl.read_bytes()
        log(f"exported {tfl} ({manifest['size_bytes']} bytes)")
        reports = verify_model(model_bytes, prepare_inputs(model_bytes, x_ver), interps, ["ref"])
        for r in reports:
            log(f"verify {r.interpreter} {r.version} {r.resolver}: {r.tensors_compared} tensors, "
                f"{r.mismatched_elements} mismatched elements" + (f" ({r.error})" if r.error else ""))
        without, with_cat = integer_top1_without_and_with_cat(qg, x_eval, y_eval)
        rows.append({
            "bits": setting, "method": row_method, "preset": None if row_method == "rtn" else preset,
            "tflite": str(tfl), "int_top1_without_cat": without, "int_top1_with_cat": with_cat,
            "cat_applied": qg.cat is not None,
            "clusters": None if qg.cat is None else int(qg.cat["clusters"]),
            "alpha": None if qg.cat is None else float(qg.cat["alpha"]),
            "heldout_top1_without_cat": sel.get("heldout_top1_none"), "heldout_top1_with_cat": sel.get("heldout_top1"),
            **cat_evidence(sel),
            "bit_exact": all(r.bit_exact for r in reports), "verify": [r.to_dict() for r in reports],
            "calibrate_s": calib_s,
        })
    return {"model": model, "method": method, "fp_top1": fp_top1, "n_eval": int(len(y_eval)),
            "n_verify": int(len(x_ver)), "rows": rows, "bit_exact": all(r["bit_exact"] for r in rows)}


def cat_evidence(selection: dict) -> dict:
    """The CAT selection's estimate for the demo's table: the gain and interval of the applied
    head, or of the best candidate when none was significant, on how many CAT images, and why."""
    rows = [r for r in selection.get("candidates", []) if "gain" in r and r.get("clusters")]
    shown = next((r for r in rows if r["chosen"]), max(rows, key=lambda r: r["gain"], default=None))
    return {"cat_images": selection.get("cat_images"), "cat_reason": selection.get("reason"),
            "cat_gain": None if shown is None else [shown["gain"], shown["gain_low"], shown["gain_high"]]}


def integer_top1_without_and_with_cat(qg, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(integer top-1 of the base classifier, with the CAT head) as fractions; without a head both
    are the base's. The integer engine's logits and top-k, as `catdeploy eval` scores them."""
    split = integer_logits_with_and_without_cat(qg, x)
    without = top_k(split["without_cat"], y, 1)
    return without, (top_k(split["with_cat"], y, 1) if "with_cat" in split else without)


@contextlib.contextmanager
def _no_progress(method: str):
    yield None


def float_top1(torch_model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    import torch

    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            out = torch_model(torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])))
            correct += int((out.argmax(1).numpy() == y[start:start + batch_size]).sum())
    return correct / len(x)
