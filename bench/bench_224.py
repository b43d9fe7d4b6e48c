"""Cost of the catdeploy CLI at 224x224: calibration (RTN, QDrop fast), eval and CAT, wall time and peak RSS.

MobileNetV3-small and ResNet-18 (torchvision mobilenet_v3_small / resnet18, 10 classes) with random
weights under torch.manual_seed(0) (bench_catrt_speed.random_weights: no 224x224 checkpoint exists and
nothing can be downloaded), Fashion-MNIST resized to 224x224 (`--input-size 224`), W4A4, default
convention. Every measurement is one `catdeploy` process of its own under `/usr/bin/time -v`, so the
wall time and the peak RSS are that process's (interpreter start, imports and data loading included):

    catdeploy calibrate ARCH --weights W.pt --data fashion-mnist --bits w4a4 --input-size 224 \
        --samples N --json -o rtn.qg                                                        # rtn
    catdeploy calibrate ARCH ... --method qdrop --preset fast --samples NQ -o qdrop.qg      # qdrop
    catdeploy eval rtn.qg --data fashion-mnist:test --samples 1000 --input-size 224 --json  # eval
    catdeploy calibrate ARCH ... --cat --cat-samples 1024 --samples N -o cat.qg             # cat

CAT fit + selection time = wall(cat) - wall(rtn) (the cat run repeats the same RTN calibration).
QDrop runs under a wall-clock cap (--qdrop-max-seconds): its rich progress bar (forced on with
TTY_COMPATIBLE=1 / TTY_INTERACTIVE=1) is read from stderr to time every reconstruction unit; a run
stopped at the cap (SIGTERM to the catdeploy process; /usr/bin/time still reports its peak RSS) is
reported as not finished, with the units done and the seconds per unit observed.

Run it niced, single-threaded (the script passes OMP/OPENBLAS/MKL_NUM_THREADS=1 to every process):

    OMP_NUM_THREADS=1 nice python bench/bench_224.py [--models mobilenet_v3_small,resnet18] \
        [--steps rtn,eval,cat,qdrop] [--samples 1024] [--qdrop-samples 256] [--qdrop-max-seconds 1200] \
        [--other-load "..."]

Rows are merged into bench/results/bench_224.json by (model, step); `--doc-only` rewrites the
docs/BENCHMARKS.md section (markers bench-224) from that file without measuring. The file's `notes`
(Markdown paragraphs written by hand after a run), `load_text`, `probes` (runs stopped early to read
a unit's iteration rate, shown in the matching row) and `partial_runs` are kept across runs.

The table of 2026-12-07 was made with (in this order; the ResNet-18 QDrop probe wrote to a scratch
results file and was copied into `probes`):

    OMP_NUM_THREADS=1 nice python bench/bench_224.py --steps rtn,eval,cat --no-doc
    OMP_NUM_THREADS=1 nice python bench/bench_224.py --steps qdrop --models mobilenet_v3_small \
        --qdrop-samples 256 --qdrop-max-seconds 900 --no-doc     # stopped, 22 of 26 units: partial_runs
    OMP_NUM_THREADS=1 nice python bench/bench_224.py --steps qdrop --models resnet18 \
        --qdrop-samples 256 --qdrop-max-seconds 600 --no-doc
    OMP_NUM_THREADS=1 nice python bench/bench_224.py --steps qdrop --models mobilenet_v3_small \
        --qdrop-samples 256 --qdrop-max-seconds 1500 --no-doc    # finished in 887 s
    OMP_NUM_THREADS=1 nice python bench/bench_224.py --steps qdrop --models resnet18 \
        --qdrop-samples 256 --qdrop-max-seconds 240 --no-doc --results /tmp/probe.json
    python bench/bench_224.py --doc-only
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

from bench_common import BENCH, ROOT, cpu_name, write_doc  # noqa: E402

RESULTS = BENCH / "results" / "bench_224.json"
BEGIN, END = "<!-- bench-224:begin -->", "<!-- bench-224:end -->"
MODELS = "mobilenet_v3_small,resnet18"
STEPS = ("rtn", "qdrop", "eval", "cat")
LABEL = {"mobilenet_v3_small": "MobileNetV3-small", "resnet18": "ResNet-18"}
SETTING = {"rtn": "RTN calibration", "qdrop": "QDrop fast calibration", "eval": "eval (.qg: catrt + fake-quant)",
           "cat": "RTN + CAT (`--cat --cat-samples {cat}`)"}
UNIT = re.compile(rb"unit (\d+)/(\d+)")
ITERATION = re.compile(rb"unit (\d+)/\d+ \S+ [^\r\n/]*? (\d+)/(\d+) loss")   # rich bar: unit, name, bar, done/total


def catdeploy_exe() -> str:
    exe = Path(sys.executable).with_name("catdeploy")
    return str(exe) if exe.exists() else "catdeploy"


def child_env(progress: bool = False) -> dict:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    paths = [str(ROOT), str(ROOT / "runtime")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if progress:  # the CLI's rich progress bar, written to a pipe as it would be to a terminal
        env.update(TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", COLUMNS="200")
    return env


def parse_time_v(text: str) -> dict:
    """Wall seconds, peak RSS (MB), user / sys CPU seconds and exit status from `/usr/bin/time -v`."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key.startswith("Elapsed (wall clock) time"):
            parts = [float(p) for p in value.split(":")]
            out["wall_s"] = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
        elif key == "Maximum resident set size (kbytes)":
            out["peak_rss_mb"] = int(value) / 1024
        elif key == "User time (seconds)":
            out["user_s"] = float(value)
        elif key == "System time (seconds)":
            out["sys_s"] = float(value)
        elif key == "Exit status":
            out["exit_status"] = int(value)
        elif line.strip().startswith("Command terminated by signal"):
            out["signal"] = int(line.strip().rsplit(" ", 1)[1])
    return out


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def timed(args: list[str], tmp: Path, max_seconds: float | None = None, progress: bool = False) -> dict:
    """Run `catdeploy ARGS` under /usr/bin/time -v; with `max_seconds`, SIGTERM the catdeploy
    process at that wall time. With `progress`, time each reconstruction unit from the progress bar."""
    tmp.mkdir(parents=True, exist_ok=True)
    time_file = tmp / "time.txt"
    cmd = ["/usr/bin/time", "-v", "-o", str(time_file), catdeploy_exe(), *args]
    load_before = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(progress),
                            cwd=str(tmp))
    units: dict[int, float] = {}     # unit index (1-based) -> seconds at which it started
    total_units = [None]
    iterations: dict[int, tuple[int, int, float]] = {}   # unit -> (last iteration seen, of, at seconds)
    tail = bytearray()

    def read_stderr() -> None:
        buf = b""
        while True:
            chunk = proc.stderr.read1(65536)
            if not chunk:
                break
            now = time.perf_counter() - t0
            clean = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", chunk)
            buf = (buf + clean)[-4096:]
            for m in UNIT.finditer(buf):
                index = int(m.group(1))
                units.setdefault(index, now)
                total_units[0] = int(m.group(2))
            for m in ITERATION.finditer(buf):
                iterations[int(m.group(1))] = (int(m.group(2)), int(m.group(3)), now)
            tail.extend(clean)
            del tail[:-20000]

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    stopped = False
    while proc.poll() is None:
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds and not stopped:
            for pid in children_of(proc.pid):   # the catdeploy process, not /usr/bin/time
                os.kill(pid, signal.SIGTERM)
            stopped = True
        time.sleep(0.5)
    stdout = proc.stdout.read().decode()
    reader.join(timeout=10)
    row = parse_time_v(time_file.read_text())
    row.update(command="catdeploy " + " ".join(args), returncode=proc.returncode, stopped_at_cap=stopped, load_before=load_before,
               load_after=loadavg())
    try:
        row["result"] = json.loads(stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        row["result"] = None
    if proc.returncode != 0 and not stopped:
        row["stderr_tail"] = bytes(tail).decode(errors="replace")[-3000:]
    if units:
        row["units_total"] = total_units[0]
        starts = sorted(units.items())
        finished = [(i, starts[k + 1][1] - s) for k, (i, s) in enumerate(starts[:-1])]
        if not stopped and proc.returncode == 0 and starts:
            finished.append((starts[-1][0], None))   # the last unit ends before saving: not timed alone
        row["unit_start_s"] = {str(i): round(s, 1) for i, s in starts}
        row["unit_seconds"] = {str(i): round(d, 1) for i, d in finished if d is not None}
        row["units_done"] = len(starts) - (1 if stopped else 0)
        if stopped and starts and starts[-1][0] in iterations:   # the unit cut off: its iterations per second
            index, start = starts[-1]
            done, of, at = iterations[index]
            row["last_unit"] = {"unit": index, "iterations": done, "of": of, "seconds": round(at - start, 1),
                                "seconds_per_iteration": round((at - start) / done, 2) if done else None}
    return row


def weights_for(arch: str) -> tuple[Path, str]:
    from bench_catrt_speed import random_weights

    path = random_weights(arch)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def measure(arch: str, step: str, args, out: Path, rows: dict) -> dict:
    weights, sha = weights_for(arch)
    base = ["calibrate", arch, "--weights", str(weights), "--data", "fashion-mnist", "--bits", "w4a4", "--input-size", "224",
            "--json", "--force"]
    tmp = out / f"{arch}_{step}"
    rtn_qg = out / f"{arch}_rtn.qg"
    images = args.samples
    if step == "rtn":
        row = timed(base + ["--samples", str(args.samples), "-o", str(rtn_qg)], tmp)
    elif step == "qdrop":
        images = args.qdrop_samples
        row = timed(base + ["--method", "qdrop", "--preset", "fast", "--samples", str(images),
                            "-o", str(out / f"{arch}_qdrop.qg")], tmp, max_seconds=args.qdrop_max_seconds,
                    progress=True)
        row["max_seconds"] = args.qdrop_max_seconds
    elif step == "eval":
        if not rtn_qg.is_file():
            raise SystemExit(f"{rtn_qg} is missing: run --steps rtn first")
        images = args.eval_samples
        row = timed(["eval", str(rtn_qg), "--data", "fashion-mnist:test", "--samples", str(images),
                     "--input-size", "224", "--json"], tmp)
        row["images_per_s"] = images / row["wall_s"]
    elif step == "cat":
        row = timed(base + ["--samples", str(args.samples), "--cat", "--cat-samples", str(args.cat_samples),
                            "-o", str(out / f"{arch}_cat.qg")], tmp)
        row["cat_samples"] = args.cat_samples
    else:
        raise SystemExit(f"unknown step {step}")
    row.update(model=arch, step=step, images=images, weights_sha256=sha, date=time.strftime("%Y-%m-%d"),
               other_load=args.other_load, nice=os.nice(0), git=git_head())
    return row


def fmt_s(seconds: float) -> str:
    return f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}"


def markdown(rows: list[dict], info: dict) -> str:
    by = {(r["model"], r["step"]): r for r in rows}
    dates = ", ".join(sorted({r["date"] for r in rows}))
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    steps_of: dict[str, list[str]] = {}
    for r in rows:
        name = SETTING[r["step"]].split(" (")[0].split(" calibration")[0]
        steps_of.setdefault(r.get("git", info["git"]), [])
        if name not in steps_of[r.get("git", info["git"])]:
            steps_of[r.get("git", info["git"])].append(name)
    trees = ", ".join(f"{g} ({' / '.join(n)} rows)" for g, n in steps_of.items())
    if len(steps_of) > 1:
        trees += " (no change under catdeploy/ or runtime/ between them)"
    lines = [BEGIN, "## Cost at 224x224: calibration, eval and CAT (MobileNetV3-small, ResNet-18)", "",
             f"Measured {dates} on {info['cpu']}; {versions}; catdeploy tree {trees}. "
             "torchvision mobilenet_v3_small and resnet18, 10 classes, **random weights** (torch.manual_seed(0); no "
             "224x224 checkpoint exists and nothing can be downloaded, so accuracies are meaningless and not "
             "reported), Fashion-MNIST train / test images resized to 224x224 (`--input-size 224`, grey "
             "replicated to 3 channels), W4A4, default convention (weights per-channel asymmetric, activations "
             "per-tensor asymmetric, first conv and last FC 8 bit, residual stream int8). Every row is one "
             "`catdeploy` process under `/usr/bin/time -v`: wall = its elapsed time, peak RSS = its maximum "
             "resident set (interpreter start, imports, data loading included). Single thread "
             "(OMP/OPENBLAS/MKL_NUM_THREADS=1), run under `nice`. **One run per row, not a median** (the "
             "protocol's medians did not fit the hour this machine could give). Bench: `bench/bench_224.py`.", ""]
    loads = sorted({r["other_load"] for r in rows if r.get("other_load")})
    load_range = [r[k] for r in rows for k in ("load_before", "load_after")]
    other = info.get("load_text") or ("; ".join(loads) if loads else "")
    lines += [f"Load: 2 cores shared with another engineer's benchmarks{' (' + other + ')' if other else ''}; "
              f"1-minute load average {min(load_range):.1f}-{max(load_range):.1f} (each row's notes: before -> after "
              "its run; the measured process itself counts 1 of it). Wall times are therefore upper bounds of an "
              "idle machine's; peak RSS does not depend on the load.", ""]
    lines += ["| model | input | setting | images | wall s | peak RSS MB | images/s | notes |",
              "|---|---|---|---|---|---|---|---|"]
    for arch in [m for m in info["models"] if any(k[0] == m for k in by)]:
        for step in ("rtn", "qdrop", "eval", "cat"):
            r = by.get((arch, step))
            if r is None:
                continue
            notes, ips = [], "-"
            setting = SETTING[step].format(cat=r.get("cat_samples"))
            images = f"{r['images']} calibration"
            wall = fmt_s(r["wall_s"])
            if step == "eval":
                images = f"{r['images']} test"
                ips = f"{r['images_per_s']:.1f}"
                res = r.get("result") or {}
                if res:
                    notes.append(f"engine {res.get('engine')}; whole process (startup, preprocessing and the "
                                 "fake-quant surrogate column included)")
                notes.append("target < 2 GB: " + ("met" if r["peak_rss_mb"] < 2000 else "NOT met"))
            elif step == "rtn":
                ips = f"{r['images'] / r['wall_s']:.1f}"
                notes.append("calibration images / wall s")
            elif step == "cat":
                rtn = by.get((arch, "rtn"))
                cat = (r.get("result") or {}).get("cat")
                images = f"{r['images']} calibration + {r['cat_samples']} CAT"
                if rtn is not None:
                    notes.append(f"CAT fit + selection = {r['wall_s'] - rtn['wall_s']:.0f} s (this row minus RTN)")
                if not cat:
                    notes.append("no CAT selection in the output")
                elif cat.get("applied"):
                    notes.append(f"CAT applied (K={cat.get('clusters')}, alpha={cat.get('alpha')}): {cat.get('reason')}")
                else:
                    best = re.search(r"best ([^;]*?\(\d+ images\))", str(cat.get("reason", "")))
                    notes.append("CAT not applied, as expected with random weights: gain not significant"
                                 + (f", best {best.group(1)}" if best else "")
                                 + f", {cat.get('simultaneous_over')} candidates, {cat.get('folds')}-fold cross-fitted")
            elif step == "qdrop":
                done, total = r.get("units_done"), r.get("units_total")
                per = list(r.get("unit_seconds", {}).values())
                if r["stopped_at_cap"]:
                    wall = f"> {r['max_seconds']:.0f} (stopped)"
                    notes.append(f"NOT finished: stopped at the {r['max_seconds']:.0f} s cap after {done} of {total} "
                                 "reconstruction units (peak RSS up to the stop)")
                elif r.get("exit_status", 0) != 0:
                    wall = f"{wall} (failed)"
                    notes.append("failed: " + (r.get("stderr_tail") or "").strip().splitlines()[-1][:200])
                else:
                    notes.append(f"{total} reconstruction units, 300 iterations of batch 32 each")
                probe = r.get("last_unit") or next((q.get("last_unit") for q in info.get("probes", [])
                                                     if (q["model"], q["step"]) == (arch, step)), None)
                if r["stopped_at_cap"] and probe:
                    source = "" if r.get("last_unit") else (" (a separate run with a shorter cap at a lighter load, "
                                                            "see below)")
                    notes.append(f"unit {probe['unit']}: {probe['iterations']} of {probe['of']} iterations in "
                                 f"{probe['seconds']:.0f} s, {probe['seconds_per_iteration']:.1f} s per iteration{source}, "
                                 f"so about {probe['seconds_per_iteration'] * probe['of'] / 60:.1f} min for that unit alone")
                if per:
                    start = r["unit_start_s"]["1"]
                    notes.append(f"seconds per unit {min(per):.0f}-{max(per):.0f} (median "
                                 f"{sorted(per)[len(per) // 2]:.0f}); first unit started at {start:.0f} s")
                    if r["stopped_at_cap"] and total:
                        mean = sum(per) / len(per)
                        notes.append(f"extrapolated total about {start + mean * total:.0f} s "
                                     f"({(start + mean * total) / 60:.0f} min) at the mean of the finished units")
            notes.append(f"load {r['load_before']:.1f} -> {r['load_after']:.1f}")
            lines.append(f"| {LABEL.get(arch, arch)} | 224x224 | {setting} | {images} | {wall} | "
                         f"{r['peak_rss_mb']:.0f} | {ips} | {'; '.join(notes)} |")
    lines += ["", "Commands (ARCH = mobilenet_v3_small / resnet18, W = the seed-0 state dict):", "", "```"]
    seen = set()
    for r in rows:
        cmd = re.sub(r"--weights \S+", "--weights W.pt", r["command"])
        cmd = re.sub(r"^(catdeploy \w+) (mobilenet_v3_small|resnet18)", r"\1 ARCH", cmd)
        cmd = re.sub(r"\S*/(mobilenet_v3_small|resnet18)_(\w+)\.qg", r"\2.qg", cmd)
        if cmd not in seen:
            seen.add(cmd)
            lines.append(cmd)
    lines += ["```"]
    if info.get("notes"):
        lines += [""] + list(info["notes"])
    lines.append(END)
    return "\n".join(lines)


def git_head() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=str(ROOT)).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "catdeploy", "runtime"], capture_output=True,
                               text=True, cwd=str(ROOT)).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except OSError:
        return "?"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=MODELS)
    p.add_argument("--steps", default="rtn,eval,cat,qdrop", help=f"comma-separated, of {', '.join(STEPS)}")
    p.add_argument("--samples", type=int, default=1024, help="calibration images of rtn and cat")
    p.add_argument("--qdrop-samples", type=int, default=256, help="calibration images of qdrop")
    p.add_argument("--qdrop-max-seconds", type=float, default=1200, help="wall-clock cap of a qdrop run")
    p.add_argument("--cat-samples", type=int, default=1024)
    p.add_argument("--eval-samples", type=int, default=1000)
    p.add_argument("--other-load", default="", help="what else ran on the machine (goes into the doc)")
    p.add_argument("--out-dir", default=str(BENCH / "out" / "bench_224"))
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--doc-only", action="store_true", help="rewrite the doc section from --results only")
    args = p.parse_args(argv)
    results = Path(args.results)
    stored = json.loads(results.read_text()) if results.exists() else {}
    rows = {(r["model"], r["step"]): r for r in stored.get("rows", [])}
    models = [m for m in args.models.split(",") if m]
    if not args.doc_only:
        from catdeploy.export.manifest import versions

        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stored.update(cpu=cpu_name(), versions=versions(), git=git_head())
        for arch in models:
            for step in [s for s in args.steps.split(",") if s]:
                row = measure(arch, step, args, out, rows)
                rows[(arch, step)] = row
                print(json.dumps({k: row.get(k) for k in ("model", "step", "images", "wall_s", "peak_rss_mb",
                                                          "stopped_at_cap", "units_done", "units_total",
                                                          "unit_seconds", "exit_status")}), flush=True)
                results.parent.mkdir(parents=True, exist_ok=True)
                results.write_text(json.dumps({**stored, "rows": list(rows.values())}, indent=1) + "\n")
    stored.setdefault("models", MODELS.split(","))
    if not args.no_doc and rows:
        write_doc(markdown(list(rows.values()), stored), BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
