"""What the benchmark scripts share: paths, the reference checkpoints, the machine's name, the
options and result files of the reference-model benches, the docs/BENCHMARKS.md section writer,
and how a bench builds a TFLite interpreter itself (for its own timing loops, in its own process).

A script imports it as a sibling module (`from bench_common import ...`): running
`python bench/SCRIPT.py` puts bench/ first on sys.path, and the tests that import a bench script put
bench/ there too. Only the standard library at import time: the interpreter workers that import
this module stay free of numpy / torch until they need them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
DOC = ROOT / "docs" / "BENCHMARKS.md"
# reference checkpoint (catdeploy.train.reference_checkpoint) -> torchvision architecture
ARCH = {"fmnist-r18": "resnet18", "fmnist-mbv2": "mobilenet_v2", "fmnist-mnas": "mnasnet0_5",
        "fmnist-mbv3s": "mobilenet_v3_small", "fmnist-effb0": "efficientnet_b0"}


def cpu_name() -> str:
    """The CPU's model name and core count (else the machine type)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x{os.cpu_count()}"
    except OSError:
        pass
    return platform.machine()


def write_doc(section: str, begin: str, end: str) -> None:
    """Replace the section between the begin/end markers of docs/BENCHMARKS.md (or append it)."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOC.write_text(text)


def bench_env(threads: bool = True) -> dict:
    """What every results file records of its run: date, CPU, torch's thread count (`threads`) and
    the versions of the interpreters and libraries (catdeploy.export.manifest.versions)."""
    from datetime import date

    from catdeploy.export.manifest import versions

    env = {"date": date.today().isoformat(), "cpu": cpu_name()}
    if threads:
        import torch

        env["threads"] = torch.get_num_threads()
    env["versions"] = ", ".join(f"{k} {v}" for k, v in versions().items())
    return env


def write_results(results: Path, env: dict, rows: list[dict]) -> None:
    """Write a results file: {"env": ..., "rows": [...]} (the rows in table order)."""
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({"env": env, "rows": rows}, indent=1))


def common_arguments(doc: str, models: str, bits: str, results: Path) -> argparse.ArgumentParser:
    """The options every reference-model benchmark takes."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--models", default=models)
    p.add_argument("--bits", default=bits)
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--verify-samples", type=int, default=256)
    p.add_argument("--eval-samples", type=int, default=10000)
    p.add_argument("--out-dir", default=str(BENCH / "out"))
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--results", default=str(results), help="JSON file of rows (merged with its earlier rows).")
    p.add_argument("--merge", default="", help="Comma-separated result JSON files to merge in first.")
    return p


def load_rows(args) -> dict:
    """{(model, bits): row} from --results and the --merge files."""
    results = Path(args.results)
    previous = json.loads(results.read_text())["rows"] if results.exists() else []
    for extra in filter(None, args.merge.split(",")):
        previous += json.loads(Path(extra).read_text())["rows"]
    return {(r["model"], r["bits"]): r for r in previous}


def tflite_builder(interpreter: str) -> tuple[Callable[..., Any], str]:
    """(build, version) of an installed interpreter: catdeploy.check.interpreters.interpreter_builder."""
    from catdeploy.check.interpreters import interpreter_builder

    return interpreter_builder(interpreter)
