"""Cost of low bits in a stock interpreter: latency of our W4A4 and W2A2 graphs against our W8A8
graph of the same model, per interpreter and resolver (benchmarks.md table 3).

Per reference model: RTN exports at W8A8, W4A4 and W2A2 (1024 seeded calibration images, default
convention; W4A4 also with symmetric weights, as int8 containers and as packed INT4 weights
(`--int4-weights`); `--cat` adds the W4A4 and W2A2 CAT exports), their op counts by kind (the extra ops
low bits bring: QUANTIZE for requantized copies, MAXIMUM / MINIMUM clamps, the CAT head), integer
top-1 on --eval-samples test images (batch 1) under each resolver (what a device gets by default
is the `auto` column), and single-thread batch-1 latency under
the reference kernels (BUILTIN_REF), the optimized built-in kernels (BUILTIN_WITHOUT_DEFAULT_DELEGATES)
and XNNPACK (AUTO), as medians and 10th percentiles of interleaved rounds (every export of a model
alternates within a round, so background load hits them alike); ratio = export / W8A8 of the same
run.

    python bench/bench_lowbit_cost.py [--models fmnist-r18,fmnist-mbv2] [--cat] [--rounds 7 --per-round 20] [--no-doc]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench_common import ARCH, BENCH, cpu_name, write_doc
from bench_peer import run_interpreter

RESULTS = BENCH / "results" / "lowbit_cost.json"
BEGIN, END = "<!-- lowbit:begin -->", "<!-- lowbit:end -->"
RESOLVERS = {"ref": "reference kernels (BUILTIN_REF)", "nodelegate": "optimized built-in kernels, XNNPACK off",
             "auto": "XNNPACK on (AUTO)"}


def op_counts(model_bytes: bytes) -> dict[str, int]:
    from catrt.reader import read_model

    return dict(sorted(Counter(op.kind for op in read_model(model_bytes).operators).items()))


def measure(ref: str, args) -> dict:
    import torch

    from catdeploy.cat.options import CatOptions
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.integer import program_bytes
    from catdeploy.lower.options import LoweringOptions
    from catdeploy.pipeline import calibrate_model, eval_images
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.train import reference_checkpoint

    torch.set_num_threads(args.threads)
    weights = reference_checkpoint(ref)
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    # name -> (bits, CAT, symmetric weights, packed INT4 weights)
    variants = {"w8a8": ("w8a8", False, False, False), "w4a4": ("w4a4", False, False, False),
                "w2a2": ("w2a2", False, False, False), "w4a4_sym": ("w4a4", False, True, False),
                "w4a4_sym_int4": ("w4a4", False, True, True)}
    if args.cat:
        variants.update({"w4a4_cat": ("w4a4", True, False, False), "w2a2_cat": ("w2a2", True, False, False)})
    exports, info, calibrated = {}, {}, {}
    for name, (bits, cat, symmetric, int4) in variants.items():
        key = (bits, cat, symmetric)
        t0 = time.perf_counter()
        if key not in calibrated:
            calibrated[key] = calibrate_model(ARCH[ref], str(weights), "fashion-mnist", CalibrationOptions(
                bits=bits, samples=args.samples, symmetric_weights=symmetric), CatOptions(enabled=cat))
        calibrate_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        data = program_bytes(calibrated[key], LoweringOptions(int4_weights=int4))
        exports[name] = data
        info[name] = {"size_bytes": len(data), "ops": op_counts(data), "sha256": hashlib.sha256(data).hexdigest(),
                      "calibrate_s": round(calibrate_s, 1), "export_s": round(time.perf_counter() - t0, 2)}
    x, y = eval_images("fashion-mnist", args.eval_samples)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    per_interpreter = {}
    for interpreter in [i for i in ("litert", "tflite-runtime") if i in available_interpreters()]:
        r = run_interpreter(interpreter, exports, x_nhwc, args, latency_resolvers=tuple(RESOLVERS),
                            more_accuracy_resolvers=tuple(RESOLVERS))
        per_interpreter[interpreter] = {
            "version": r["version"], "failures": r["failures"], "latency": r["latency"],
            "top1": {n: float((np.asarray(m["argmax"]) == y).mean() * 100) for n, m in r["models"].items()},
            "top1_by_resolver": {n: {res: float((np.asarray(a) == y).mean() * 100)
                                     for res, a in m["argmax_by_resolver"].items()}
                                 for n, m in r["models"].items()}}
    return {"model": ref, "arch": ARCH[ref], "weights_sha256": sha, "calibration_images": args.samples,
            "eval_images": int(len(y)), "exports": info, "interpreters": per_interpreter,
            "rounds": args.rounds, "per_round": args.per_round, "threads": 1, "other_load": args.other_load,
            "date": time.strftime("%Y-%m-%d"), "cpu": cpu_name()}


def extra_ops(ops: dict[str, int], base: dict[str, int]) -> str:
    diff = {k: ops.get(k, 0) - base.get(k, 0) for k in sorted(set(ops) | set(base))}
    return ", ".join(f"{'+' if v > 0 else ''}{v} {k}" for k, v in diff.items() if v) or "none"


def markdown(rows: list[dict]) -> str:
    lines = [BEGIN, "## Cost of low bits in a stock interpreter (our W4A4 / W2A2 graphs vs our W8A8 graph)", ""]
    for row in rows:
        load = f" Other load: {row['other_load']}." if row["other_load"] else ""
        lines += [f"### {row['model']} ({row['arch']}, checkpoint sha256 `{row['weights_sha256'][:16]}`)", "",
                  f"Measured {row['date']} on {row['cpu']}; RTN exports, {row['calibration_images']} calibration "
                  f"images, default convention; integer top-1 on the first {row['eval_images']} test images "
                  f"(batch 1) under ref / nodelegate / auto (auto = XNNPACK, a device's default). Latency: one thread, batch 1, {row['rounds']} interleaved rounds x "
                  f"{row['per_round']} invokes per export; median (p10) in ms; ratio = export / W8A8 of the same "
                  f"run, medians (p10s); calibrate s 0.0: the export reuses the calibration of the row above.{load} Bench: `bench/bench_lowbit_cost.py`.", "",
                  "| export | size KiB | calibrate s | export s | ops | extra ops vs W8A8 | interpreter | top-1 ref / nodelegate / auto | "
                  + " | ".join(f"{r} ms" for r in RESOLVERS) + " | " + " | ".join(f"{r} ratio" for r in RESOLVERS)
                  + " |", "|---|---:|---:|---:|---:|---|---|---:|" + "---:|" * (2 * len(RESOLVERS))]
        base_ops = row["exports"]["w8a8"]["ops"]
        for name, e in row["exports"].items():
            for interp, m in row["interpreters"].items():
                if name in m["failures"] and name not in m["top1"]:
                    lines.append(f"| {name} | {e['size_bytes'] / 1024:.0f} | {e['calibrate_s']:.1f} | {e['export_s']:.2f} | "
                                 f"{sum(e['ops'].values())} | {extra_ops(e['ops'], base_ops)} | {interp} {m['version']} | does not load: "
                                 f"{'; '.join(f'{k}: {v}' for k, v in m['failures'][name].items())} |")
                    continue
                ms, ratios = [], []
                for resolver in RESOLVERS:
                    t = m["latency"].get(resolver, {}).get(name)
                    b = m["latency"].get(resolver, {}).get("w8a8")
                    if resolver in m["failures"].get(name, {}):
                        ms.append("does not load")
                        ratios.append("-")
                        continue
                    ms.append(f"{t['median_ms']:.2f} ({t['p10_ms']:.2f})" if t else "-")
                    ratios.append(f"{t['median_ms'] / b['median_ms']:.3f} ({t['p10_ms'] / b['p10_ms']:.3f})"
                                  if t and b else "-")
                by = m.get("top1_by_resolver", {}).get(name, {})
                top1 = " / ".join(f"{by[r]:.2f}" if r in by else "-" for r in RESOLVERS)
                lines.append(f"| {name} | {e['size_bytes'] / 1024:.0f} | {e['calibrate_s']:.1f} | {e['export_s']:.2f} | "
                                 f"{sum(e['ops'].values())} | "
                             f"{extra_ops(e['ops'], base_ops)} | {interp} {m['version']} | {top1} | "
                             + " | ".join(ms) + " | " + " | ".join(ratios) + " |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="fmnist-r18,fmnist-mbv2")
    p.add_argument("--cat", action="store_true", help="also the W4A4 and W2A2 CAT exports")
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--eval-samples", type=int, default=1000)
    p.add_argument("--accuracy-resolver", default="nodelegate")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--per-round", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch threads for calibration")
    p.add_argument("--other-load", default="")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--no-doc", action="store_true")
    args = p.parse_args(argv)
    results = Path(args.results)
    rows = {r["model"]: r for r in (json.loads(results.read_text())["rows"] if results.exists() else [])}
    for ref in [m for m in args.models.split(",") if m]:
        rows[ref] = measure(ref, args)
        for interp, m in rows[ref]["interpreters"].items():
            print(f"{ref} {interp}: top-1 {m['top1']}, failures {m['failures']}", flush=True)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps({"rows": list(rows.values())}, indent=1) + "\n")
    if not args.no_doc:
        write_doc(markdown(list(rows.values())), BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
