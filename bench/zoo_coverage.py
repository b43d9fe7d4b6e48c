"""Every torchvision classifier: exported bit-exact, or refused cleanly (exit 2, one line naming
every unsupported op and where it occurs).

Per model (num_classes=10, seeded random weights, 32x32 input): capture; a refusal is recorded
with its one-line message. A captured model is planned (W4A4, default convention), calibrated
(RTN, Lp ranges) on --samples seeded Fashion-MNIST train images, lowered, written and verified
(catrt vs every installed interpreter's BUILTIN_REF, every tensor) on --verify-samples test
images. Models above --max-params parameters are listed as not run (CPU time). Writes
bench/results/zoo_coverage.json and the coverage table of docs/ARCHITECTURES.md.

    .venv/bin/python bench/zoo_coverage.py [--max-params 30e6] [--capture-only] [--models a,b]

A run over some models (--models) updates their rows and keeps the others'. "captured" means
capture succeeded in a --capture-only run and the export was not verified in this survey.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "zoo_coverage.json"
DOC = ROOT / "docs" / "ARCHITECTURES.md"
BEGIN, END = "<!-- zoo:begin -->", "<!-- zoo:end -->"


DEFAULT_SAMPLES, DEFAULT_VERIFY = 32, 8  # calibration / verification images per model
# Builders whose forward needs more than 32x32: ViT and MaxViT fix the image size (224),
# inception_v3's stem needs at least 75 pixels, and AlexNet's and VGG's adaptive pools expect the
# 6x6 / 7x7 feature maps of a 224 input (at 32 AlexNet's features end at 0x0 and VGG's pool would
# upsample 1x1 to 7x7).
INPUT_SIZES = {"inception_v3": 96, "maxvit_t": 224, "vit_b_16": 224, "vit_b_32": 224, "vit_h_14": 224,
               "vit_l_16": 224, "vit_l_32": 224, "alexnet": 224,
               **{f"vgg{d}{bn}": 224 for d in (11, 13, 16, 19) for bn in ("", "_bn")}}


def run_one(name: str, args, load_images) -> dict:
    import torch

    from catdeploy import api
    from catdeploy.data.zoo import build_model
    from catdeploy.errors import UserError

    try:
        with torch.device("meta"):  # count parameters without allocating (vit_h_14 has 632 M)
            params = sum(p.numel() for p in build_model(name, 10).parameters())
    except Exception:  # builders that compute with tensors (regnet) need real ones
        params = sum(p.numel() for p in build_model(name, 10).parameters())
    size = INPUT_SIZES.get(name, 32)
    row = {"model": name, "params": int(params), "input_size": size}
    if params > args.max_params:
        row["status"] = "not run (size)"
        return row
    torch.manual_seed(0)
    model = build_model(name, 10)
    t0 = time.perf_counter()
    try:
        graph = api.capture(model, size)
    except UserError as exc:
        row.update(status="refused", message=str(exc), capture_s=round(time.perf_counter() - t0, 1))
        return row
    row.update(status="captured", nodes=len(graph.nodes), capture_s=round(time.perf_counter() - t0, 1))
    if args.capture_only:
        return row
    try:
        images, test_images = load_images(size)
        qg = api.calibrate(graph, api.plan(graph, "w4a4", observer=args.observer), images)
        program = api.lower(qg)
        tflite = api.export_tflite(program)
    except UserError as exc:
        row.update(status="refused", message=str(exc))
        return row
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.check.verify import verify_model
    from catdeploy.integer import prepare_inputs

    reports = verify_model(tflite, prepare_inputs(tflite, test_images), available_interpreters(), ["ref"])
    row.update(status="exported", ops=len(program.ops), calibration_images=int(len(images)), observer=args.observer,
               verify_images=int(len(test_images)), tensors=[r.tensors_compared for r in reports],
               mismatched=[r.mismatched_elements for r in reports], errors=[r.error for r in reports if r.error],
               bit_exact=all(r.bit_exact for r in reports), seconds=round(time.perf_counter() - t0, 1))
    return row


def markdown(rows: list[dict], args) -> str:
    lines = [BEGIN, "## Coverage of the torchvision classification list", "",
             f"`bench/zoo_coverage.py` (random weights, 32x32 input unless the builder needs more: "
             + ", ".join(f"{k} {v}x{v}" for k, v in sorted(INPUT_SIZES.items())) + "; exported models: W4A4 RTN on "
             f"{DEFAULT_SAMPLES} calibration images, verified on {DEFAULT_VERIFY} test images (unless the row says "
             f"otherwise) against "
             f"the three interpreters' BUILTIN_REF" + (f"; models above {args.max_params:.0f} parameters not run"
                                                        if any(r["status"] == "not run (size)" for r in rows) else "")
             + "). `CRASH` marks a model that failed with an error other than a clean refusal (a defect).", "",
             "| model | parameters | result |", "|---|---|---|"]
    for r in rows:
        if r["status"] == "exported":
            counts = ((r.get("calibration_images", DEFAULT_SAMPLES), r.get("verify_images", DEFAULT_VERIFY))
                      != (DEFAULT_SAMPLES, DEFAULT_VERIFY))
            observer = r.get("observer", "lp")
            result = (f"exported, {'bit-exact' if r['bit_exact'] else 'MISMATCH'} "
                      f"(tensors {r['tensors']}, mismatched {r['mismatched']}"
                      + (f"; {r['calibration_images']} calibration / {r['verify_images']} verify images" if counts else "")
                      + (f"; {observer} ranges" if observer != "lp" else "") + ")")
        elif r["status"] == "refused":
            message = r["message"].replace("|", "\\|")
            result = f"refused: {message[:400]}{'...' if len(message) > 400 else ''}"
        elif r["status"] == "captured":
            result = "captured (export not run in this survey)"
        else:
            result = r["status"]
        lines.append(f"| {r['model']} | {r['params'] / 1e6:.1f} M | {result} |")
    lines += ["", END]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-params", type=float, default=30e6)
    parser.add_argument("--capture-only", action="store_true")
    parser.add_argument("--models", default="")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument("--verify-samples", type=int, default=DEFAULT_VERIFY)
    parser.add_argument("--observer", default="lp", choices=("lp", "minmax"),
                        help="range observer (minmax: no Lp grid search, for the largest models)")
    args = parser.parse_args(argv)
    from catdeploy.data.zoo import classification_model_names
    from catdeploy.pipeline import calibration_data

    names = args.models.split(",") if args.models else classification_model_names()
    loaded: dict[int, tuple] = {}

    def load_images(size: int) -> tuple:
        if size not in loaded:
            loaded[size] = (calibration_data("fashion-mnist", args.samples, 0, size)[0],
                            calibration_data("fashion-mnist:test", args.verify_samples, 0, size)[0])
        return loaded[size]
    previous = {r["model"]: r for r in json.loads(RESULTS.read_text())["rows"]} if RESULTS.exists() else {}
    def save() -> list[dict]:
        ordered = [previous[k] for k in sorted(previous)]
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"rows": ordered}, indent=1))
        return ordered

    for name in names:
        try:
            row = run_one(name, args, load_images)
        except Exception as exc:  # a crash is a finding, not the end of the survey
            row = {"model": name, "params": 0, "status": f"CRASH {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        print(f"{name}: {row['status']} {row.get('message', '')[:200]} {row.get('mismatched', '')}",
              file=sys.stderr, flush=True)
        previous[name] = row  # a run over some models keeps the others' rows; saved after each model
        save()
    rows = save()
    text = DOC.read_text() if DOC.exists() else ""
    block = markdown(rows, args)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
