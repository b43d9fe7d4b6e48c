"""Reconstruction PTQ on the reference models: rtn / adaround / brecq / qdrop / pdquant per preset.

Each row (model, bits, method, preset, convention) runs in its own process (its wall time and peak
memory are the row's own) and is cached in bench/results/recon.json, so the grid can be filled over
several sessions: rows already present are skipped unless --redo. Per row:
  - calibration wall time (RTN ranges + reconstruction, 1024 seeded train images, this machine's
    cores) and the process's peak resident memory;
  - integer top-1 on the fashion-mnist test split (10 000 images) from the eval-mode simulator (the
    lowered program run by catrt, reference profile) and from catrt on the exported .tflite bytes,
    with the number of differing logits (must be 0), and the training-mode surrogate's top-1;
  - verify of the export (every tensor, BUILTIN_REF, the installed interpreters, 256 images);
  - the largest number of distinct values of any activation tensor (catrt, 256 test images) and of
    any weight channel, against 2^b of its planned width.

    .venv/bin/python bench/bench_recon.py [--models fmnist-r18,fmnist-mbv2] [--bits w2a4,w2a2,w4a4,w4a2]
        [--methods rtn,adaround,brecq,qdrop,pdquant] [--presets fast] [--conventions default] [--redo] [--no-doc]
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from bench_common import ARCH, BENCH, ROOT, cpu_name, write_doc

RESULTS = BENCH / "results" / "recon.json"
BEGIN, END = "<!-- recon:begin -->", "<!-- recon:end -->"
METHOD_ORDER = ["rtn", "adaround", "brecq", "qdrop", "pdquant"]
BITS_ORDER = ["w8a8", "w4a4", "w2a4", "w4a2", "w2a2"]
PRESET_ORDER = ["-", "fast", "default", "paper"]
# FP test top-1 of the reference checkpoints (../shared/reference/README, same sha256 as the rows)
FP_TOP1 = {"fmnist-r18": "91.70", "fmnist-mbv2": "90.76"}


def key_of(row: dict) -> tuple:
    """A row's identity; seed 0 (calibration images and reconstruction) unless the row says otherwise."""
    return (row["model"], row["bits"], row["method"], row["preset"], row["convention"], row.get("seed", 0))


def distinct_value_check(qg, model: bytes, x) -> dict:
    """Max distinct values over activation tensors and weight channels vs their planned 2^b."""
    from catrt import Interpreter

    from catdeploy.integer import prepare_inputs

    plan = qg.plan
    planned = {**plan.values, **{k: v[1] for k, v in plan.requants.items()}}
    values = Interpreter(model).run([prepare_inputs(model, x)], keep_all=True)
    over, checked = 0, 0
    for name, bits in planned.items():
        if name in values:
            checked += 1
            over += int(len(np.unique(values[name])) > 2 ** bits)
    wover = sum(int(max(len(np.unique(c)) for c in codes.reshape(len(codes), -1)) > 2 ** plan.weights[n])
                for n, codes in qg.weight_codes.items())
    return {"activation_tensors_checked": checked, "activation_tensors_over": over,
            "weight_tensors_checked": len(qg.weight_codes), "weight_tensors_over": wover}


BASES = Path.home() / ".cache" / "catdeploy" / "bench" / "recon"
FUSED_STEP = "cd7336d"   # first commit with the fused reconstruction step


def code_commit() -> str | None:
    """The checked-out commit the row ran (None outside a git checkout)."""
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or None


def fused_step(row: dict) -> bool:
    """Whether the row's calibration ran the fused reconstruction step (commit FUSED_STEP or later):
    rows carry their commit from then on."""
    return row.get("method") != "rtn" and bool(row.get("commit"))


def base_path(spec: str) -> Path:
    """Where a row's calibrated .qg is kept (a base for bench_cat.py --base-method)."""
    return BASES / (spec.replace(",", "_") + ".qg")


def save_base(qg, spec: str) -> None:
    from catdeploy.quant.quantized_graph import save_quantized_graph

    BASES.mkdir(parents=True, exist_ok=True)
    save_quantized_graph(qg, base_path(spec))


def run_row(spec: str, args) -> dict:
    """One row, in this process (called by the parent with --row)."""
    import hashlib

    from catdeploy.check.interpreters import available_interpreters, run_tflite
    from catdeploy.check.verify import verify_model
    from catdeploy.export.manifest import versions
    from catdeploy.integer import integer_outputs, prepare_inputs, program_bytes, top_k
    from catdeploy.pipeline import calibrate_model, eval_images
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.quant.simulate import simulate_batches
    from catdeploy.train import reference_checkpoint

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    ref, bits, method, preset, convention, *rest = spec.split(",")
    seed = int(rest[0]) if rest else 0
    weights = reference_checkpoint(ref)
    opts = CalibrationOptions(bits=bits, method=method, samples=args.samples, preset=preset, convention=convention,
                              seed=seed)
    t0 = time.perf_counter()
    qg = calibrate_model(ARCH[ref], str(weights), "fashion-mnist", opts)
    calib_s = time.perf_counter() - t0
    save_base(qg, spec)
    model = program_bytes(qg)
    x, y = eval_images("fashion-mnist", args.eval_samples)
    simulated = integer_outputs(qg, x)   # eval-mode simulator: catrt on the lowered program
    xs = x[:args.tflite_samples]           # against the deployed interpreter (BUILTIN_REF)
    deployed = run_tflite(model, xs, "tflite-runtime", "ref")
    xv = x[:args.verify_samples]
    reports = verify_model(model, prepare_inputs(model, xv), available_interpreters(), ["ref"])
    row = {
        "model": ref, "arch": ARCH[ref], "bits": bits, "method": method, "preset": preset,
        "convention": convention, "seed": seed, "weights_sha256": hashlib.sha256(Path(weights).read_bytes()).hexdigest(),
        "calibration_images": args.samples, "calib_seconds": round(calib_s, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "int_top1": top_k(simulated, y, 1) * 100, "simulator_top1": top_k(simulated, y, 1) * 100,
        "simulator_differing_logits": int(np.count_nonzero(simulated[:len(xs)] != deployed)),
        "simulator_compared_with": f"tflite-runtime {versions().get('tflite-runtime')} BUILTIN_REF",
        "simulator_compared_images": int(len(xs)),
        "fake_quant_top1": top_k(simulate_batches(qg, x), y, 1) * 100, "eval_images": int(len(y)),
        "verify_mismatched": int(sum(r.mismatched_elements for r in reports)),
        "verify_ok": all(r.bit_exact for r in reports),
        "verify_interpreters": [f"{r.interpreter} {r.version} ({r.resolver})" for r in reports],
        "verify_images": int(len(xv)), "iterations": qg.meta.get("iterations"),
        "torch_threads": torch.get_num_threads(), "other_load": args.other_load, "surrogate_rounding": "tflite",
        "commit": code_commit(),
        **distinct_value_check(qg, model, xv),
    }
    return row


def simulator_check(ref: str, bits: str, args) -> dict:
    """RTN export of a docs/BENCHMARKS.md spine row: the eval-mode simulator (catrt, each
    interpreter's reference profile) against that interpreter's BUILTIN_REF on the test images."""
    import hashlib

    from catdeploy.check.interpreters import available_interpreters, run_tflite
    from catdeploy.check.verify import catrt_profile
    from catdeploy.integer import integer_outputs, program_bytes, top_k
    from catdeploy.pipeline import calibrate_model, eval_images
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.train import reference_checkpoint

    weights = reference_checkpoint(ref)
    qg = calibrate_model(ARCH[ref], str(weights), "fashion-mnist", CalibrationOptions(bits=bits, samples=args.samples))
    model = program_bytes(qg)
    x, y = eval_images("fashion-mnist", args.eval_samples)
    out = {"model": ref, "bits": bits, "weights_sha256": hashlib.sha256(Path(weights).read_bytes()).hexdigest(),
           "eval_images": int(len(y)), "interpreters": {}}
    for interp in available_interpreters():
        profile = catrt_profile(interp, "ref")[0]
        simulated = integer_outputs(qg, x, profile=profile)
        deployed = run_tflite(model, x, interp, "ref")
        out["interpreters"][interp] = {"profile": profile, "differing_logits": int(np.count_nonzero(simulated != deployed)),
                                       "top1": top_k(deployed, y, 1) * 100}
    return out


def recorded_fp_top1(model: str, shas: set[str]) -> str | None:
    """The test top-1 `catdeploy train` recorded in the cached checkpoint, if it is the rows' one."""
    import torch

    path = Path.home() / ".cache" / "catdeploy" / "reference" / f"{model}.pt"
    if len(shas) != 1 or not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() not in shas:
        return None
    top1 = torch.load(path, weights_only=True).get("meta", {}).get("test_top1")
    return None if top1 is None else f"{top1:.2f}"


def measured_on(rows: list[dict]) -> str:
    """Dates and CPUs the rows were measured on."""
    stamps = sorted({(r["date"], r["cpu"]) for r in rows})
    if len(stamps) == 1:
        return f"{stamps[0][0]} on {stamps[0][1]}"
    return "; ".join(f"{d} on {c}" for d, c in stamps) + " (each row's date and cpu in bench/results/recon.json)"


def surrogate_nearest(row: dict) -> bool:
    """Whether the row was calibrated when the training-mode surrogate rounded to nearest (before 29cd17c)."""
    return row.get("surrogate_rounding", "").startswith("nearest")


def seed_spread(rows: list[dict]) -> list[str]:
    """Markdown lines: integer top-1 of each configuration measured under more than one seed."""
    runs: dict[tuple, dict[int, dict]] = {}
    for r in rows:
        runs.setdefault(key_of(r)[:5], {})[r.get("seed", 0)] = r
    multi = {k: v for k, v in runs.items() if len(v) > 1}
    if not multi:
        return []
    lines = ["### Seed spread", "",
             "The same configuration calibrated with other seeds (the seed draws the calibration images from "
             "the train split and the reconstruction's batches, QDrop masks and PD-Quant's correction batches): "
             "integer top-1 per seed on the 10 000 test images, and the range (max - min); (Nt) = torch threads "
             "where the seeds of a row ran on different thread counts. Each seed's export is verified like the "
             "rows above (mismatched elements summed over the seeds).", "",
             "| model | convention | bits | method | preset | top-1 per seed | mean | range | verify |",
             "|---|---|---|---|---|---|---|---|---|"]
    for k in sorted(multi, key=lambda k: (k[0], k[4], BITS_ORDER.index(k[1]) if k[1] in BITS_ORDER else 9,
                                          PRESET_ORDER.index(k[3]) if k[3] in PRESET_ORDER else 9,
                                          METHOD_ORDER.index(k[2]))):
        by_seed = multi[k]
        tops = [by_seed[s]["int_top1"] for s in sorted(by_seed)]
        threads = {by_seed[s].get("torch_threads") for s in by_seed}
        lines.append(f"| {k[0]} | {k[4]} | {k[1]} | {k[2]} | {k[3]} | "
                     + " / ".join(f"{s}: {by_seed[s]['int_top1']:.2f}"
                                  + (f" ({by_seed[s].get('torch_threads')}t)" if len(threads) > 1 else "")
                                  for s in sorted(by_seed))
                     + f" | {np.mean(tops):.2f} | {max(tops) - min(tops):.2f} | "
                     f"{sum(by_seed[s]['verify_mismatched'] for s in by_seed)} |")
    return lines + [""]


def markdown(rows: list[dict], env: dict) -> str:
    shas = sorted({(r["model"], r["weights_sha256"]) for r in rows})
    lines = [BEGIN, "## Reconstruction PTQ (integer top-1, catrt = TFLite reference kernels)", "",
             f"Measured {measured_on(rows)}, {env['versions']}. Checkpoints (sha256): "
             + ", ".join(f"{m} `{s[:16]}`" for m, s in shas) + ". 1024 seeded train images for "
             "calibration (RTN Lp ranges, then the method); top-1 on the 10 000 fashion-mnist test "
             "images (computed by the eval-mode simulator = catrt on the lowered program); `sim = int` counts "
             "logits where the simulator differs from tflite-runtime's BUILTIN_REF running the exported file, on "
             "the first 1000 test images (rows measured before 2026-12-02 16:40: catrt on the file, all 10 000; "
             "must be 0); `surrogate` is the training-mode (fake-quant) top-1; "
             "`verify` = mismatched elements over every tensor, 256 images, BUILTIN_REF of each "
             "installed interpreter; `> 2^b` = tensors / weight tensors holding more distinct values "
             "than their planned width allows. Time = calibration wall time on this machine (RTN + "
             "reconstruction), memory = peak RSS of the row's process; * = measured while other benchmarks "
             "shared the 2 cores (the row's `other_load` note in bench/results/recon.json; not a clean time); "
             "(Nt) = torch threads of the row (results differ in the last digits between thread counts: float "
             "reductions; same threads, same bytes). "
             + ("† = calibrated before commit 29cd17c, when the training-mode surrogate rounded to nearest "
                "instead of as the integer kernels do (double rounding, AveragePool); to be redone (`--redo`). "
                if any(surrogate_nearest(r) for r in rows) else "") +
             f"‡ = calibrated with the fused reconstruction step (commit {FUSED_STEP} or later: the same "
             "gradients formed in one pass, 45 % less CPU per step in a profile; rows without ‡ ran the earlier "
             "autograd graph, so their times are not comparable). "
             "Bench: `bench/bench_recon.py`.", ""]
    spread = seed_spread(rows)
    rows = [r for r in rows if r.get("seed", 0) == 0]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["convention"]), []).append(r)
    for (model, convention), rs in sorted(groups.items()):
        fp = FP_TOP1.get(model) or recorded_fp_top1(model, {r["weights_sha256"] for r in rs})
        lines += [f"### {model}, convention {convention}" + (f" (FP top-1 {fp})" if fp else ""), "",
                  "| bits | method | preset | int top-1 | sim = int | surrogate | verify | > 2^b | time s | peak MiB |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        rs.sort(key=lambda r: (BITS_ORDER.index(r["bits"]) if r["bits"] in BITS_ORDER else 9,
                               PRESET_ORDER.index(r["preset"]) if r["preset"] in PRESET_ORDER else 9,
                               METHOD_ORDER.index(r["method"])))
        for r in rs:
            lines.append(
                f"| {r['bits']} | {r['method']}{' †' if surrogate_nearest(r) else ''}"
                f"{' ‡' if fused_step(r) else ''} "
                f"| {r['preset']} | {r['int_top1']:.2f} | {r['simulator_differing_logits']} "
                f"| {r['fake_quant_top1']:.2f} | {r['verify_mismatched']} "
                f"| {r['activation_tensors_over']}/{r['weight_tensors_over']} | {r['calib_seconds']:.0f}"
                f"{'*' if r.get('other_load') not in (None, '', 'none') else ''}"
                f"{' (%dt)' % r['torch_threads'] if r.get('torch_threads') else ''} "
                f"| {r['peak_rss_mib']:.0f} |")
        lines.append("")
    lines += spread
    check = RESULTS.with_name("simulator_check.json")
    if check.exists():
        data = json.loads(check.read_text())
        lines += ["### Simulator = integer on the spine's RTN exports", "",
                  f"Measured {data['date']}: eval-mode simulator (catrt with each interpreter's reference "
                  "profile) against that interpreter's BUILTIN_REF on the fashion-mnist test images; "
                  "differing logits (int8 elements) per interpreter.", "",
                  "| model | bits | images | " + " | ".join(sorted({i for r in data["rows"] for i in r["interpreters"]})) + " |",
                  "|---|---|---|" + "---|" * len({i for r in data["rows"] for i in r["interpreters"]})]
        names = sorted({i for r in data["rows"] for i in r["interpreters"]})
        for r in data["rows"]:
            cells = [str(r["interpreters"][n]["differing_logits"]) if n in r["interpreters"] else "-" for n in names]
            lines.append(f"| {r['model']} | {r['bits']} | {r['eval_images']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="fmnist-r18,fmnist-mbv2")
    p.add_argument("--bits", default="w2a4,w2a2,w4a4,w4a2")
    p.add_argument("--methods", default=",".join(METHOD_ORDER))
    p.add_argument("--presets", default="fast")
    p.add_argument("--conventions", default="default")
    p.add_argument("--seeds", default="0", help="seeds of the calibration images and the reconstruction; rows "
                                                "of seeds other than 0 form the seed-spread table")
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--eval-samples", type=int, default=10000)
    p.add_argument("--verify-samples", type=int, default=256)
    p.add_argument("--tflite-samples", type=int, default=1000,
                   help="Test images on which the simulator's logits are compared with tflite-runtime's BUILTIN_REF")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--redo", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="torch threads per row (0: torch's default)")
    p.add_argument("--other-load", default="", help="Note recorded with each row: other work on the machine "
                                                     "while it ran (times are then not clean)")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--row", help=argparse.SUPPRESS)
    p.add_argument("--simulator-check", action="store_true",
                   help="RTN exports of --models x --bits: simulator vs each interpreter's BUILTIN_REF, "
                        "written to bench/results/simulator_check.json")
    args = p.parse_args()
    if args.row:
        print("ROW " + json.dumps(run_row(args.row, args)))
        return 0
    if args.simulator_check:
        path = RESULTS.with_name("simulator_check.json")
        done = {(r["model"], r["bits"]): r for r in (json.loads(path.read_text())["rows"] if path.exists() else [])}
        for model in args.models.split(","):
            for bits in args.bits.split(","):
                if (model, bits) in done and not args.redo:
                    continue
                done[(model, bits)] = simulator_check(model, bits, args)
                print(json.dumps(done[(model, bits)]), flush=True)
                path.write_text(json.dumps({"date": str(date.today()), "rows": sorted(done.values(), key=lambda r: (r["model"], r["bits"]))}, indent=1) + "\n")
        return 0
    from catdeploy.export.manifest import versions

    results = Path(args.results)
    rows = {key_of(r): r for r in (json.loads(results.read_text())["rows"] if results.exists() else [])}
    previous = json.loads(results.read_text()) if results.exists() else {}
    measured_env = {"date": str(date.today()), "cpu": cpu_name(),
           "versions": ", ".join(f"{k} {v}" for k, v in versions().items()
                                 if k in ("torch", "tflite-runtime", "ai-edge-litert", "tensorflow"))}
    env = previous.get("env", measured_env)
    for r in rows.values():  # rows measured before rows were stamped: the last run before 2026-12-03
        r.setdefault("date", f"up to {env['date']}")
        r.setdefault("cpu", env["cpu"])
    for model in args.models.split(","):
        for bits in args.bits.split(","):
            for preset in args.presets.split(","):
                for convention in args.conventions.split(","):
                    for method, seed in itertools.product(args.methods.split(","), map(int, args.seeds.split(","))):
                        key = (model, bits, method, "-" if method == "rtn" else preset, convention, seed)
                        if key in rows and not args.redo:
                            continue
                        spec = ",".join(key[:3] + ("fast" if method == "rtn" else preset, convention)
                                        + ((str(seed),) if seed else ()))
                        t0 = time.perf_counter()
                        out = subprocess.run([sys.executable, __file__, "--row", spec,
                                              "--samples", str(args.samples), "--eval-samples", str(args.eval_samples),
                                              "--verify-samples", str(args.verify_samples),
                                              "--tflite-samples", str(args.tflite_samples),
                                              "--threads", str(args.threads), "--other-load", args.other_load],
                                             capture_output=True, text=True)
                        line = [ln for ln in out.stdout.splitlines() if ln.startswith("ROW ")]
                        if out.returncode or not line:
                            print(f"{spec}: failed\n{out.stderr[-3000:]}", file=sys.stderr)
                            continue
                        row = json.loads(line[0][4:])
                        row.update(preset=key[3], date=str(date.today()), cpu=cpu_name())
                        env = measured_env
                        rows[key] = row
                        print(f"{spec}: int {row['int_top1']:.2f} sim-diff {row['simulator_differing_logits']} "
                              f"verify {row['verify_mismatched']} {row['calib_seconds']:.0f}s "
                              f"({time.perf_counter() - t0:.0f}s total)", flush=True)
                        results.parent.mkdir(parents=True, exist_ok=True)
                        results.write_text(json.dumps({"env": env, "rows": sorted(rows.values(), key=key_of)},
                                                      indent=1) + "\n")
                        if not args.no_doc:
                            write_doc(markdown(list(rows.values()), env), BEGIN, END)
    if not args.no_doc:  # also when every row was cached: the section follows the results file
        write_doc(markdown(list(rows.values()), env), BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
