"""Mixed precision against uniform settings on the reference checkpoints (issue 25).

Each row: one reference model, one setting (uniform wXaY or auto:wXaY), one method and preset,
calibrated on the default 1024 train images (seed 0; `auto` selects on the 512 train images after
them, never the test split), then the integer top-1 of the exported program on the first
--eval-samples test images (catrt, tflite-runtime 2.14 reference profile = the interpreters'
BUILTIN_REF, bit-exact). Also the weight bits per parameter and BOPs per MAC over the layers the
convention quantizes below 8 bit, the held-out top-1 of the choice and the time it took.

    python bench/bench_mixed.py --models fmnist-effb0 --settings w4a4,auto:w4a4 --method rtn
    python bench/bench_mixed.py --models fmnist-mbv2 --settings auto:w3a3 --method qdrop --preset fast
Rows are merged into --results (keyed by model, setting, method, preset); --no-doc skips the
docs/BENCHMARKS.md section.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from datetime import date
from pathlib import Path

from bench_common import ARCH, BENCH, cpu_name, write_doc

BEGIN, END = "<!-- bench_mixed:begin -->", "<!-- bench_mixed:end -->"
RESULTS = BENCH / "results" / "mixed.json"


def run_row(ref: str, setting: str, method: str, preset: str, eval_samples: int) -> dict:
    import resource

    from catdeploy.integer.simulator import integer_logits
    from catdeploy.mixed.budget import Widths, budget_layers, cost_of, input_bits
    from catdeploy.pipeline import calibrate_model, eval_chunks
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.train import reference_checkpoint

    weights = reference_checkpoint(ref, train_if_missing=False)
    start = time.perf_counter()
    qg = calibrate_model(ARCH[ref], str(weights), "fashion-mnist",
                         CalibrationOptions(bits=setting, method=method, preset=preset),
                         log=lambda m: print(m, file=sys.stderr, flush=True))
    seconds = time.perf_counter() - start
    layers = budget_layers(qg.graph, CalibrationOptions())
    widths = Widths({layer.name: qg.plan.weights[layer.name] for layer in layers},
                    {layer.name: input_bits(qg.plan, layer.name) for layer in layers if layer.act_unit})
    cost = cost_of(layers, widths)
    correct = n = 0
    for x, y in eval_chunks("fashion-mnist", eval_samples):
        correct += int((integer_logits(qg, x).argmax(1) == y).sum())
        n += len(y)
    mixed = qg.meta.get("mixed_precision")
    return {"model": ref, "setting": setting, "method": method, "preset": preset if method != "rtn" else "-",
            "top1": 100.0 * correct / n, "n": n, "weight_bits": round(cost.weight_bits, 4),
            "bops_per_mac": round(cost.bops_per_mac, 3),
            "held_out_top1": None if mixed is None else mixed["held_out"]["top1"],
            "chosen": None if mixed is None else next((x for x in mixed["notes"] if x.startswith("chosen")), None),
            "calibration_seconds": round(seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "sha256": hashlib.sha256(Path(weights).read_bytes()).hexdigest()[:16],
            "date": date.today().isoformat(), "cpu": cpu_name()}


def pareto_checks(rows: list[dict]) -> list[str]:
    """Per model, method and preset: mixed against uniform at the integer budgets (same X and Y),
    and whether test top-1 rises with the budget along the auto:wXaX rows."""
    lines = []
    groups: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["method"], r["preset"]), {})[r["setting"]] = r
    for (model, method, preset), by_setting in sorted(groups.items()):
        autos = sorted((r for k, r in by_setting.items() if k.startswith("auto:")), key=lambda r: r["weight_bits"])
        if not autos:
            continue
        parts = []
        for k, r in sorted(by_setting.items()):
            if not k.startswith("auto:") or k[len("auto:"):] not in by_setting:
                continue
            u = by_setting[k[len("auto:"):]]
            verdict = "at least as accurate" if r["top1"] >= u["top1"] else "LESS accurate"
            parts.append(f"{k} {r['top1']:.2f} vs uniform {u['top1']:.2f} ({verdict}; {r['weight_bits']:.2f} vs "
                         f"{u['weight_bits']:.2f} bits/param)")
        budgets = sorted(autos, key=lambda r: float(r["setting"].split("auto:w")[1].split("a")[0]))
        tops = [r["top1"] for r in budgets]
        monotone = all(b >= a for a, b in zip(tops, tops[1:]))
        parts.append("auto rows by budget: " + " -> ".join(f"{r['setting'][5:]} {r['top1']:.2f}" for r in budgets)
                     + (" (monotone)" if monotone else " (NOT monotone)"))
        lines.append(f"- {model}, {method} {preset}: " + "; ".join(parts))
    return lines


def section(rows: list[dict]) -> str:
    lines = [BEGIN, "## Mixed precision and uniform settings (issue 25)", "",
             "Integer top-1 (catrt = BUILTIN_REF, bit-exact) of the exported program on the first N test images; "
             "calibration on the default 1024 train images (seed 0); `auto:wXaY` chooses per-layer widths from "
             "2, 3, 4, 5, 6, 8 within X weight bits per parameter and X*Y BOPs per MAC over the layers the default "
             "convention quantizes below 8 bit, selected on the 512 train images after the calibration draw "
             "(held-out: every per-tensor damage and every check on all 512), never on the test split; the candidates "
             "are the MILP solutions, the uniform setting of the budget and the uniform settings one width narrower; with a reconstruction method the candidates are ranked with weights one "
             "width wider (the reconstruction credit, catdeploy/mixed/search.py) and \"held-out top-1\" is the reconstructed "
             "program's. Activation ranges: the 2-D Lp search of both ends, p = 2.4 (quant/observers.py). "
             "Calibration seconds were measured with other benchmarks running on the same 2 cores (load 3-6): "
             "compare them only within a row's date. Produced by `python bench/bench_mixed.py`.", "",
             "| model | sha256 | setting | method | top-1 | n | bits / param | BOPs / MAC | held-out top-1 | "
             "choice | calibration s | date | CPU |", "|" + "---|" * 13]
    for r in sorted(rows, key=lambda r: (r["model"], r["method"], r["preset"], -r["weight_bits"], r["setting"])):
        held = "-" if r["held_out_top1"] is None else f"{r['held_out_top1']:.2f}"
        lines.append(f"| {r['model']} | `{r['sha256']}` | {r['setting']} | {r['method']} {r['preset']} | "
                     f"{r['top1']:.2f} | {r['n']} | {r['weight_bits']:.3f} | {r['bops_per_mac']:.2f} | {held} | "
                     f"{r['chosen'] or '-'} | {r['calibration_seconds']:.0f} | {r['date']} | {r['cpu']} |")
    return "\n".join(lines + ["", "Checks (mixed against uniform at the same integer budget; test top-1 along the budgets):", ""]
                     + pareto_checks(rows) + ["", END])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="fmnist-effb0")
    p.add_argument("--settings", default="w4a4,auto:w4a4")
    p.add_argument("--method", default="rtn")
    p.add_argument("--preset", default="fast")
    p.add_argument("--eval-samples", type=int, default=10000)
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--no-doc", action="store_true")
    args = p.parse_args()
    results = Path(args.results)
    rows = {(r["model"], r["setting"], r["method"], r["preset"]): r
            for r in (json.loads(results.read_text())["rows"] if results.exists() else [])}
    for ref in args.models.split(","):
        for setting in args.settings.split(","):
            row = run_row(ref, setting, args.method, args.preset, args.eval_samples)
            print(json.dumps(row), flush=True)
            rows[(row["model"], row["setting"], row["method"], row["preset"])] = row
            results.parent.mkdir(parents=True, exist_ok=True)
            results.write_text(json.dumps({"rows": list(rows.values())}, indent=1) + "\n")
    if not args.no_doc:
        write_doc(section(list(rows.values())), BEGIN, END)


if __name__ == "__main__":
    main()
