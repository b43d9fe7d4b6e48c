"""Float capture fidelity with trained weights: captured Graph vs torch on Fashion-MNIST test images.

For the embedded default model and every reference checkpoint (trained on demand by
catdeploy.train.reference_checkpoint): max |graph - torch| / max |torch| over the first N test
images. Writes the "Capture fidelity" section of docs/BENCHMARKS.md.

    .venv/bin/python bench/bench_capture.py [--samples 1000]
"""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- capture:begin -->", "<!-- capture:end -->"
REFERENCES = {"fmnist-r18": "resnet18", "fmnist-mbv2": "mobilenet_v2", "fmnist-mnas": "mnasnet0_5"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=1000)
    args = p.parse_args()
    from catdeploy import api
    from catdeploy.demo import default_model
    from catdeploy.ir.execute import float_logits
    from catdeploy.pipeline import eval_images
    from catdeploy.train import reference_checkpoint

    x, _ = eval_images("fashion-mnist:test", args.samples)
    arch, weights, _ = default_model()
    models = [("embedded default", arch, weights)]
    models += [(ref, a, reference_checkpoint(ref)) for ref, a in REFERENCES.items()]
    rows = []
    for label, arch, weights in models:
        model, _ = api.load_float_model(arch, str(weights))
        graph = api.capture(model, 32)
        with torch.no_grad():
            ref = np.concatenate([model(torch.from_numpy(x[i:i + 250])).numpy() for i in range(0, len(x), 250)])
        ours = np.concatenate([float_logits(graph, x[i:i + 250]) for i in range(0, len(x), 250)])
        rel = float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
        agree = float(np.mean(ours.argmax(1) == ref.argmax(1)) * 100)
        rows.append((label, arch, rel, agree))
        print(f"{label} {arch}: rel err {rel:.2e}, top-1 agreement {agree:.2f} %", file=sys.stderr)
    lines = [BEGIN, "## Capture fidelity with trained weights", "",
             f"Measured {date.today().isoformat()}: captured Graph (BN folded, activations fused) vs the torch "
             f"model on the first {len(x)} Fashion-MNIST test images (acceptance: <= 1e-4).", "",
             "| model | architecture | max abs diff / max abs torch output | top-1 agreement |", "|---|---|---|---|"]
    lines += [f"| {label} | {arch} | {rel:.2e} | {agree:.2f} % |" for label, arch, rel, agree in rows]
    lines += ["", END]
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    section = "\n".join(lines)
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOC.write_text(text)
    return 0 if all(r[2] <= 1e-4 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
