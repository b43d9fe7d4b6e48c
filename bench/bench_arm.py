"""Raspberry Pi (aarch64) arithmetic under qemu-user: catrt's aarch64 profiles against the
aarch64 wheels of tflite-runtime 2.14.0 and ai-edge-litert 2.1.0, every tensor, bit for bit.

Setup (../shared/docs/arm-emulation.md): qemu-user-static, an arm64 Debian root with Python 3.11
(debootstrap --foreign + dpkg-deb -x), and the aarch64 wheels of numpy 1.26.4, tflite-runtime
2.14.0 and ai-edge-litert 2.1.0 unpacked into one folder. The interpreters run in
`python -m catdeploy.check.interpreters worker` started as `qemu-aarch64-static -L ROOT
ROOT/usr/bin/python3.11` (catdeploy.check.interpreters.Launcher); catrt runs here with
profile_for(..., arch="aarch64"). With --golden it also runs `python -m catrt check` under qemu on
each model's MODEL.golden.npz (written here with catrt.golden). Emulated timings mean nothing.

    .venv/bin/python bench/bench_arm.py MODEL.tflite [...] [--samples 8] [--root /tmp/arm64/root]
        [--site /tmp/arm64/site] [--golden 4] [--json bench/results/arm.json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = os.environ.get("CATRT_ARM64_ROOT", "/tmp/arm64/root")
DEFAULT_SITE = os.environ.get("CATRT_ARM64_SITE", "/tmp/arm64/site")
PACKAGES = {"tflite-runtime": "tflite_runtime", "litert": "ai_edge_litert"}


def missing(root: str, site: str) -> str | None:
    """Why the emulated run cannot happen here, or None."""
    if shutil.which("qemu-aarch64-static") is None:
        return "qemu-aarch64-static is not installed (apt-get install qemu-user-static)"
    if not Path(root, "usr/bin/python3.11").is_file():
        return f"no arm64 root with Python 3.11 at {root} (see ../shared/docs/arm-emulation.md)"
    if not Path(site, "numpy").is_dir():
        return f"no unpacked aarch64 numpy wheel in {site}"
    if not any(Path(site, pkg).is_dir() for pkg in PACKAGES.values()):
        return f"no unpacked aarch64 tflite-runtime / ai-edge-litert wheel in {site}"
    return None


def launcher(root: str, site: str):
    from catdeploy.check.interpreters import Launcher

    packages = tuple(name for name, pkg in PACKAGES.items() if Path(site, pkg).is_dir())
    return Launcher(python=("qemu-aarch64-static", "-L", root, f"{root}/usr/bin/python3.11"),
                    pythonpath=(str(ROOT), str(ROOT / "runtime"), site), packages=packages, arch="aarch64")


def catrt_check(model: Path, golden: Path, root: str, site: str, interpreter: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "runtime"), site]), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONHOME", None)
    return subprocess.run(["qemu-aarch64-static", "-L", root, f"{root}/usr/bin/python3.11", "-m", "catrt", "check",
                           str(model), str(golden), "--interpreter", interpreter],
                          capture_output=True, text=True, env=env, timeout=1800)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--root", default=DEFAULT_ROOT)
    parser.add_argument("--site", default=DEFAULT_SITE)
    parser.add_argument("--golden", type=int, default=0, help="Also run python -m catrt check with N samples.")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    why = missing(args.root, args.site)
    if why:
        print(f"blocked: {why}", file=sys.stderr)
        return 2
    import numpy as np

    from catdeploy.check.verify import RESOLVERS, verify_model
    from catdeploy.integer import prepare_inputs
    from catdeploy.pipeline import eval_images, preprocessing_for_model

    run = launcher(args.root, args.site)
    rows, ok = [], True
    for path in map(Path, args.models):
        model = path.read_bytes()
        x, _ = eval_images("fashion-mnist:test", args.samples, prep=preprocessing_for_model(path, model))
        reports = verify_model(model, prepare_inputs(model, x), list(run.packages), list(RESOLVERS), launcher=run)
        for r in reports:
            status = "bit-exact" if r.bit_exact else (f"ERROR {r.error}" if r.error else f"MISMATCH {r.first_mismatch}")
            print(f"{path.name} aarch64 {r.interpreter} {r.version} {r.resolver}: profile {r.profile}, "
                  f"{r.tensors_compared} tensors, {r.elements_compared} elements, "
                  f"{r.mismatched_elements} mismatched (max {r.max_abs_diff}) {status}", flush=True)
            ok &= r.bit_exact
            rows.append({"model": path.name, **r.to_dict()})
        if args.golden:
            from catrt.golden import make_golden, npz_bytes

            with tempfile.TemporaryDirectory() as tmp:
                golden = Path(tmp, path.stem + ".golden.npz")
                golden.write_bytes(npz_bytes(make_golden(model, args.golden)))
                for interpreter in run.packages:
                    proc = catrt_check(path, golden, args.root, args.site, interpreter)
                    print(proc.stdout.strip(), proc.stderr.strip(), f"(exit {proc.returncode})", flush=True)
                    ok &= proc.returncode == 0
                    rows.append({"model": path.name, "catrt_check": interpreter, "exit": proc.returncode,
                                 "stdout": proc.stdout})
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": "aarch64 (qemu-user)", "rows": rows}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
