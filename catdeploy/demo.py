"""`catdeploy demo`: the whole pipeline on the embedded default model, offline, in a few minutes."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from catdeploy import api
from catdeploy.pipeline import CalibrateOptions, calibrate_model, eval_images, export_quantized


def default_model() -> tuple[str, Path, dict]:
    """(architecture, weights path, recorded training info) of the embedded default model."""
    from catdeploy.assets import DEFAULT_MODEL_PATH, default_model_info

    info = default_model_info()
    return info["model"], DEFAULT_MODEL_PATH, info


def run_demo(out_dir: Path, *, bits: str = "w4a4", verify_samples: int = 256, eval_samples: int | None = None,
             data: str = "fashion-mnist", log=print) -> dict:
    from catdeploy.interpreters import available_interpreters
    from catdeploy.verify import verify_model

    out_dir.mkdir(parents=True, exist_ok=True)
    model, weights, info = default_model()
    log(f"model: {model} (embedded, trained by: {info.get('command', '?')}; FP test top-1 {info.get('test_top1')})")
    timings = {}
    t0 = time.perf_counter()
    qg = calibrate_model(model, str(weights), data, CalibrateOptions(bits=bits, method="rtn"))
    timings["calibrate_s"] = round(time.perf_counter() - t0, 1)
    log(f"calibrated {bits} (RTN, Lp-searched ranges) on {qg.meta.get('calibration_images')} images in {timings['calibrate_s']} s")
    log("CAT: not applied (CAT folding is a later milestone of the integer spine)")
    tfl = out_dir / f"{model}_{bits}.tflite"
    t0 = time.perf_counter()
    manifest = export_quantized(qg, tfl, force=True, source={"model": model, "weights": str(weights)})
    timings["export_s"] = round(time.perf_counter() - t0, 1)
    log(f"exported {tfl} ({manifest['size_bytes']} bytes, {manifest['extra_clamp_ops']} extra clamp ops)")
    model_bytes = tfl.read_bytes()

    x_ver, _ = eval_images(data, verify_samples)
    inputs = api.prepare_inputs(model_bytes, x_ver)
    interps = list(available_interpreters())
    reports = verify_model(model_bytes, inputs, interps, ["ref"])
    for r in reports:
        log(f"verify {r.interpreter} {r.version} {r.resolver}: {r.tensors_compared} tensors, "
            f"{r.mismatched_elements} mismatched elements" + (f" ({r.error})" if r.error else ""))

    x_eval, y_eval = eval_images(data, eval_samples)
    t0 = time.perf_counter()
    logits = api.run_catrt(model_bytes, x_eval)
    timings["eval_catrt_s"] = round(time.perf_counter() - t0, 1)
    top1 = api.top_k(logits, y_eval, 1)
    torch_model, _ = api.load_float_model(model, str(weights))
    fp_top1 = float_top1(torch_model, x_eval, y_eval)
    summary = {
        "model": model, "bits": bits, "method": "rtn", "tflite": str(tfl),
        "fp_top1": fp_top1, "int_top1_catrt": top1, "n_eval": int(len(y_eval)),
        "bit_exact": all(r.bit_exact for r in reports),
        "verify": [r.to_dict() for r in reports], "timings": timings,
    }
    return summary


def float_top1(torch_model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    import torch

    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            out = torch_model(torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])))
            correct += int((out.argmax(1).numpy() == y[start:start + batch_size]).sum())
    return correct / len(x)
