"""Every torchvision classifier, and every timm model of the mobile / edge CNN families
(--source timm): exported bit-exact, or refused cleanly (exit 2, one grouped line naming the
unsupported op kinds and where they occur).

Per model (num_classes=10, seeded random weights, 32x32 input unless the model needs more):
capture; a refusal is recorded with its one-line message. A captured model is planned (W4A4,
default convention), calibrated (RTN, Lp ranges) on --samples seeded Fashion-MNIST train images,
lowered, written and verified (catrt vs every installed interpreter's BUILTIN_REF, every tensor)
on --verify-samples test images. Models above --max-params parameters are listed as not run (CPU
time). Writes bench/results/zoo_coverage.json (timm: timm_coverage.json) and the coverage table of
docs/ARCHITECTURES.md.

    .venv/bin/python bench/zoo_coverage.py [--source timm] [--max-params 30e6] [--capture-only] [--models a,b]

A run over some models (--models) updates their rows and keeps the others'. "captured" means
capture succeeded in a --capture-only run and the export was not verified in this survey.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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


# timm's mobile / edge CNN families (timm 1.0.29 names). Surveyed: every model matching these
# patterns up to --max-params (default 15 M for timm). Not surveyed: the attention hybrids of the
# same papers (mobilevit*, efficientvit*, mobilenetv4_hybrid*: attention blocks, not CNNs).
TIMM_FAMILIES = (
    "mobilenetv1_*", "mobilenetv2_*", "mobilenetv3_*", "tf_mobilenetv3_*", "mobilenetv4_conv_*",
    "efficientnet_b0*", "efficientnet_b1*", "efficientnet_es*", "efficientnet_em", "efficientnet_lite*",
    "tf_efficientnet_b0", "tf_efficientnet_lite*", "tinynet_*", "lcnet_*", "ghostnet*", "repghostnet_*",
    "mnasnet_*", "semnasnet_*", "spnasnet_*", "fbnetc_*", "fbnetv3_*", "hardcorenas_*", "mixnet_*",
    "tf_mixnet_*", "resnet10t", "resnet14t", "resnet18", "resnet18d", "resnet26d", "resnet26t",
    "regnetx_00*", "regnety_00*", "mobileone_s*", "repvgg_a0", "repvgg_a1", "dla46*",
)
# GhostNet V2 / V3's attention branch pools the last 1x1 map of a 32x32 input to 0x0: 64x64 for them.
TIMM_INPUT_SIZES: dict[str, int] = {name: 64 for name in (
    "ghostnetv2_100", "ghostnetv2_130", "ghostnetv2_160", "ghostnetv3_050", "ghostnetv3_100", "ghostnetv3_130",
    "ghostnetv3_160")}


def timm_model_names() -> list[str]:
    """The timm models of TIMM_FAMILIES, sorted."""
    import timm

    return sorted({n for pattern in TIMM_FAMILIES for n in timm.list_models(pattern)})


def build_timm(name: str, num_classes: int):
    import timm

    return timm.create_model(name, pretrained=False, num_classes=num_classes)


@dataclass(frozen=True)
class Source:
    """Where the surveyed models come from and where their table goes."""

    name: str
    title: str
    names: Callable[[], list[str]]
    build: Callable[[str, int], object]
    results: Path
    begin: str
    end: str
    input_sizes: dict = field(default_factory=dict)
    max_params: float = 30e6


def _torchvision_names() -> list[str]:
    from catdeploy.data.zoo import classification_model_names

    return classification_model_names()


def _torchvision_build(name: str, num_classes: int):
    from catdeploy.data.zoo import build_model

    return build_model(name, num_classes)


SOURCES = {
    "torchvision": Source("torchvision", "Coverage of the torchvision classification list", _torchvision_names,
                          _torchvision_build, RESULTS, BEGIN, END, INPUT_SIZES),
    "timm": Source("timm", "Coverage of timm's mobile / edge CNN families", timm_model_names, build_timm,
                   ROOT / "bench" / "results" / "timm_coverage.json", "<!-- timm:begin -->", "<!-- timm:end -->",
                   TIMM_INPUT_SIZES, 15e6),
}


def run_one(name: str, args, load_images, source: Source = SOURCES["torchvision"]) -> dict:
    import torch

    from catdeploy import api
    from catdeploy.errors import UserError

    build_model = source.build
    try:
        with torch.device("meta"):  # count parameters without allocating (vit_h_14 has 632 M)
            params = sum(p.numel() for p in build_model(name, 10).parameters())
    except Exception:  # builders that compute with tensors (regnet) need real ones
        params = sum(p.numel() for p in build_model(name, 10).parameters())
    size = source.input_sizes.get(name, 32)
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


def markdown(rows: list[dict], args, source: Source = SOURCES["torchvision"]) -> str:
    sizes = ", ".join(f"{k} {v}x{v}" for k, v in sorted(source.input_sizes.items())) or "none"
    command = "bench/zoo_coverage.py" + ("" if source.name == "torchvision" else f" --source {source.name}")
    lines = [source.begin, f"## {source.title}", "", summary(rows, source),
             f"`{command}` (random weights, 32x32 input unless the model needs more: "
             + sizes + "; exported models: W4A4 RTN on "
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
    lines += ["", source.end]
    return "\n".join(lines)


def summary(rows: list[dict], source: Source) -> str:
    """One paragraph: how many surveyed models exported bit-exact, how many were refused and why."""
    run = [r for r in rows if r["status"] != "not run (size)"]
    exact = [r for r in run if r["status"] == "exported" and r.get("bit_exact")]
    refused = [r for r in run if r["status"] == "refused"]
    other = len(run) - len(exact) - len(refused)
    text = (f"{len(exact)} of {len(run)} surveyed models ({100 * len(exact) / max(len(run), 1):.1f} %) export "
            f"bit-exact; {len(refused)} are refused" + (f"; {other} other (see the rows)" if other else "") + ".")
    if source.name == "timm":
        text += (" Surveyed: every timm model of the families " + ", ".join(f"`{p}`" for p in TIMM_FAMILIES)
                 + f" up to {source.max_params / 1e6:.0f} M parameters (timm's attention hybrids of the same "
                 "papers, mobilevit*, efficientvit*, mobilenetv4_hybrid*, are not CNNs and not surveyed).")
    return text + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="torchvision", choices=sorted(SOURCES))
    parser.add_argument("--max-params", type=float, default=None, help="default: 30 M (torchvision), 15 M (timm)")
    parser.add_argument("--capture-only", action="store_true")
    parser.add_argument("--models", default="")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument("--verify-samples", type=int, default=DEFAULT_VERIFY)
    parser.add_argument("--observer", default="lp", choices=("lp", "minmax"),
                        help="range observer (minmax: no Lp grid search, for the largest models)")
    args = parser.parse_args(argv)
    from catdeploy.pipeline import calibration_data

    source = SOURCES[args.source]
    if args.max_params is None:
        args.max_params = source.max_params
    names = args.models.split(",") if args.models else source.names()
    loaded: dict[int, tuple] = {}

    def load_images(size: int) -> tuple:
        if size not in loaded:
            loaded[size] = (calibration_data("fashion-mnist", args.samples, 0, size)[0],
                            calibration_data("fashion-mnist:test", args.verify_samples, 0, size)[0])
        return loaded[size]
    results = source.results
    previous = {r["model"]: r for r in json.loads(results.read_text())["rows"]} if results.exists() else {}

    def save() -> list[dict]:
        ordered = [previous[k] for k in sorted(previous)]
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps({"rows": ordered}, indent=1))
        return ordered

    for name in names:
        try:
            row = run_one(name, args, load_images, source)
        except Exception as exc:  # a crash is a finding, not the end of the survey
            row = {"model": name, "params": 0, "status": f"CRASH {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        print(f"{name}: {row['status']} {row.get('message', '')[:200]} {row.get('mismatched', '')}",
              file=sys.stderr, flush=True)
        previous[name] = row  # a run over some models keeps the others' rows; saved after each model
        save()
    rows = save()
    text = DOC.read_text() if DOC.exists() else ""
    block = markdown(rows, args, source)
    if source.begin in text and source.end in text:
        text = text[:text.index(source.begin)] + block + text[text.index(source.end) + len(source.end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
