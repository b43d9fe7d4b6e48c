"""Edge architectures on random weights: export at W8A8 / W4A4 / W2A2, verify every tensor against
the three TFLite interpreters' reference resolvers, check every planned tensor's grid.

For each model (torchvision, num_classes=10, 32x32 input, seeded random weights saved as a plain
state dict) and bit setting, runs the CLI exactly as a user would:

    catdeploy export MODEL --weights W.pt --data fashion-mnist --bits B --samples N -o M.tflite
    catdeploy verify M.tflite --data fashion-mnist:test --samples 64 --interpreter all --resolver ref
    catdeploy inspect M.tflite --data fashion-mnist:test --samples 64

and records tensors / mismatched elements per interpreter and grid violations (a planned tensor
with more than 2^b distinct values). Writes bench/results/edge.json and the table in
docs/ARCHITECTURES.md (between the edge:begin / edge:end markers).

    .venv/bin/python bench/bench_edge.py [--models mobilenet_v3_small,...] [--bits w8a8,w4a4,w2a2]
        [--samples 128] [--verify-samples 64]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "edge.json"
DOC = ROOT / "docs" / "ARCHITECTURES.md"
OUT = ROOT / "bench" / "out" / "edge"
BEGIN, END = "<!-- edge:begin -->", "<!-- edge:end -->"
MODELS = ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "shufflenet_v2_x1_0",
          "regnet_y_400mf", "googlenet")
BITS = ("w8a8", "w4a4", "w2a2")
CLI = [str(ROOT / ".venv" / "bin" / "catdeploy")]


def random_weights(model: str, seed: int = 0) -> Path:
    """A seeded random-weight state dict of `model` (as build_model makes it), saved once."""
    import torch

    from catdeploy.data.zoo import build_model

    path = OUT / f"{model}_random{seed}.pt"
    if not path.exists():
        torch.manual_seed(seed)
        torch.save(build_model(model, 10).state_dict(), path)
    return path


def cli_json(args: list[str], log) -> tuple[int, dict | None, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(CLI + args + ["--json"], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        log(f"  {' '.join(args[:2])}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
        return proc.returncode, None, seconds
    return proc.returncode, json.loads(proc.stdout), seconds


def run_one(model: str, bits: str, args, log) -> dict:
    weights = random_weights(model)
    path = OUT / f"{model}_{bits}.tflite"
    row = {"model": model, "bits": bits, "weights": "random (seed 0)"}
    rc, exported, export_s = cli_json(["export", model, "--weights", str(weights), "--data", "fashion-mnist",
                                       "--bits", bits, "--samples", str(args.samples), "-o", str(path),
                                       "--force"], log)
    row.update(export_exit=rc, export_s=round(export_s, 1))
    if exported is None:
        return row
    row.update(size_bytes=exported["size_bytes"], extra_clamp_ops=exported["extra_clamp_ops"])
    rc, verified, verify_s = cli_json(["verify", str(path), "--data", "fashion-mnist:test", "--samples",
                                       str(args.verify_samples), "--interpreter", "all", "--resolver", "ref"], log)
    row.update(verify_exit=rc, verify_s=round(verify_s, 1))
    if verified is not None:
        row["bit_exact"] = verified["bit_exact"]
        row["images"] = verified["images"]
        row["verify"] = [{k: r[k] for k in ("interpreter", "version", "resolver", "profile", "tensors_compared",
                                             "elements_compared", "mismatched_elements", "error")}
                         for r in verified["runs"]]
    rc, inspected, _ = cli_json(["inspect", str(path), "--data", "fashion-mnist:test", "--samples",
                                 str(args.verify_samples)], log)
    if inspected is not None:
        planned = [t for t in inspected["tensors"] if not t["constant"] and t.get("bits")
                   and t["dtype"] == "int8"]
        row.update(ops=sum(inspected["op_counts"].values()), op_counts=inspected["op_counts"],
                   planned_tensors=len(planned),
                   grid_violations=len(inspected["activation_violations"]) + len(inspected["weight_violations"]),
                   max_distinct_over_limit=max((t["distinct_values"] - (1 << t["bits"]) for t in planned
                                                if t.get("distinct_values") is not None), default=0))
    log(f"{model} {bits}: exact={row.get('bit_exact')} "
        f"{[(v['interpreter'], v['tensors_compared'], v['mismatched_elements']) for v in row.get('verify', [])]} "
        f"grid violations {row.get('grid_violations')} ({row['export_s']} s + {row.get('verify_s')} s)")
    return row


def markdown(rows: list[dict], env: dict) -> str:
    lines = [BEGIN, "## Edge architectures, random weights: bit-exactness and grids", "",
             f"Measured {env['date']} on {env['cpu']}, {env['python']}; `bench/bench_edge.py`. torchvision "
             f"models with num_classes=10 and seeded random weights (torch.manual_seed(0) before "
             f"catdeploy's build_model; plain state dict), 32x32 input, default convention, RTN, Lp ranges "
             f"on {env['samples']} seeded Fashion-MNIST train images. Verified on the first "
             f"{env['verify_samples']} test images: catrt against each interpreter's BUILTIN_REF, every "
             f"tensor, exact equality. Grid check: `catdeploy inspect --data` (violations = planned tensors "
             f"holding more than 2^b distinct values, or weights off their grid).", "",
             "| model | bits | ops | planned tensors | extra clamps | size (bytes) | tflite-runtime 2.14 tensors / mismatched | "
             "ai-edge-litert 2.1.0 | tensorflow 2.19 | grid violations |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        by = {v["interpreter"]: v for v in r.get("verify", [])}

        def cell(name):
            v = by.get(name)
            if v is None:
                return "n/a"
            if v["error"]:
                return f"ERROR {v['error']}"
            return f"{v['tensors_compared']} / {v['mismatched_elements']}"

        lines.append(f"| {r['model']} | {r['bits']} | {r.get('ops', 'n/a')} | {r.get('planned_tensors', 'n/a')} | "
                     f"{r.get('extra_clamp_ops', 'n/a')} | {r.get('size_bytes', 'n/a')} | {cell('tflite-runtime')} | "
                     f"{cell('litert')} | {cell('tensorflow')} | {r.get('grid_violations', 'n/a')} |")
    lines += ["", END]
    return "\n".join(lines)


def write_doc(rows: list[dict], env: dict) -> None:
    text = DOC.read_text() if DOC.exists() else ""
    block = markdown(rows, env)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--bits", default=",".join(BITS))
    parser.add_argument("--samples", type=int, default=128, help="calibration images")
    parser.add_argument("--verify-samples", type=int, default=64)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    previous = {(r["model"], r["bits"]): r for r in json.loads(RESULTS.read_text())["rows"]} \
        if RESULTS.exists() else {}
    for model in args.models.split(","):
        for bits in args.bits.split(","):
            previous[(model, bits)] = run_one(model, bits, args, log)
    order = {m: i for i, m in enumerate(MODELS)}
    rows = sorted(previous.values(), key=lambda r: (order.get(r["model"], 99), BITS.index(r["bits"])
                                                      if r["bits"] in BITS else 9))
    env = {"date": str(date.today()), "cpu": platform.processor() or platform.machine(),
           "python": f"Python {platform.python_version()}", "samples": args.samples,
           "verify_samples": args.verify_samples, "threads": os.cpu_count()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"env": env, "rows": rows}, indent=1, sort_keys=True))
    write_doc(rows, env)
    return 0 if all(r.get("bit_exact") and r.get("grid_violations") == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
