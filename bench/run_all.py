"""Run the benchmarks that write docs/BENCHMARKS.md (and docs/ARCHITECTURES.md), one after another.

    python bench/run_all.py --quick     # small sample counts: minutes per bench, the same tables
    python bench/run_all.py --full      # the protocol of ../shared/docs/benchmarks.md (hours on 2 cores)
    python bench/run_all.py --full --only recon,peer
    python bench/run_all.py --list

Each bench runs in its own process with its own options; a failing one is reported and the rest
still run (exit 1 at the end if any failed). Reference checkpoints are read from
~/.cache/catdeploy/reference (trained first when missing, 15-60 min each on 2 cores). Each table
records its date, CPU, thread count, versions and the sha256 of the checkpoints it used; timings
are medians, with ratios against the peer measured in the same run where there is one.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

# name -> (script, --quick arguments, --full arguments)
STEPS: dict[str, tuple[str, list[str], list[str]]] = {
    "spine": ("bench_spine.py", ["--eval-samples", "1000", "--verify-samples", "16"], []),
    "capture": ("bench_capture.py", ["--samples", "256"], []),
    "agreement": ("agreement.py", [], []),
    "cat": ("bench_cat.py", ["--cat-only"], []),
    "cat-evidence": ("bench_cat_evidence.py", ["--models", "fmnist-r18", "--bits", "w2a4", "--eval-samples", "1000",
                                               "--latency-runs", "20", "--no-doc"], []),
    "recon": ("bench_recon.py", ["--bits", "w2a4", "--methods", "rtn,qdrop", "--eval-samples", "1000",
                                 "--verify-samples", "16", "--threads", "1"], ["--threads", "1"]),
    "catrt-speed": ("bench_catrt_speed.py", ["--images", "500", "--rounds", "2"], ["--images", "10000"]),
    "peer": ("bench_peer.py", ["--models", "fmnist-mbv2", "--eval-samples", "1000", "--rounds", "3"], []),
    "float-check": ("bench_float_check.py", ["--models", "fmnist-mbv2", "--samples", "200"], []),
    "lowbit-cost": ("bench_lowbit_cost.py", ["--models", "fmnist-mbv2", "--eval-samples", "200", "--rounds", "3"],
                    ["--cat"]),
    "cost": ("cost_table.py", [], []),
    "edge": ("bench_edge.py", ["--bits", "w4a4", "--verify-samples", "16"], []),
    "profiles": ("bench_profiles.py", ["--samples", "8"], []),
    "zoo": ("zoo_coverage.py", ["--capture-only"], []),
    "arm": ("bench_arm.py", ["--samples", "4"], []),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sample counts (the default)")
    mode.add_argument("--full", action="store_true", help="the full protocol")
    mode.add_argument("--list", action="store_true", help="print the steps and their commands")
    p.add_argument("--only", default="", help=f"comma-separated steps ({', '.join(STEPS)})")
    args = p.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s] or list(STEPS)
    unknown = [s for s in chosen if s not in STEPS]
    if unknown:
        print(f"error: --only {','.join(unknown)}: unknown step (known: {', '.join(STEPS)})", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        script, quick, full = STEPS[name]
        command = [sys.executable, str(BENCH / script), *(full if args.full else quick)]
        if args.list:
            print(f"{name:10s} {' '.join(command[1:])}")
            continue
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(command)
        print(f"== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
