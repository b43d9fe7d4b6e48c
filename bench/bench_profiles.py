"""Bit-exactness of catrt's arithmetic profiles on real exports, every interpreter x resolver.

For each reference model, bit setting and head (plain / --cat), export with the CLI
(`catdeploy export ... -o OUT`), then compare catrt with every installed interpreter under every
resolver (ref, builtin, nodelegate, auto), each through its own profile, on every tensor of the
first N Fashion-MNIST test images (catdeploy.check.verify.verify_model). Writes
bench/results/profiles.json and prints the Markdown table of docs/PROFILES.md.

    .venv/bin/python bench/bench_profiles.py [--models fmnist-r18,fmnist-mbv2] [--bits w8a8,w4a4,w2a2]
        [--heads plain,cat] [--samples 64] [--out-dir /tmp/catdeploy-profiles] [--reuse]
    .venv/bin/python bench/bench_profiles.py --models random:mobilenet_v3_large,random:regnet_y_400mf \
        --bits w4a4 --heads plain --input-size 64

`random:ARCH` is a torchvision architecture with its random initialisation (torch.manual_seed(0),
10 classes, saved as a state dict beside the exports): no trained weights are needed to exercise
its ops. `--bits` also takes `auto:wXaY` (mixed precision; the file name spells it autowXaY).
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "profiles.json"
ARCH = {"fmnist-r18": "resnet18", "fmnist-mbv2": "mobilenet_v2", "fmnist-mnas": "mnasnet0_5",
        "fmnist-mbv3s": "mobilenet_v3_small", "fmnist-effb0": "efficientnet_b0",
        "fmnist-timm-mbv3s050": "timm:mobilenetv3_small_050"}
RANDOM = "random:"
CACHE = Path.home() / ".cache" / "catdeploy" / "reference"


def random_weights(arch: str, out_dir: Path) -> Path:
    """The seeded random initialisation of a torchvision architecture (10 classes), as a state dict."""
    import torch

    from catdeploy.data.float_model import build_model

    path = out_dir / f"{arch}_random.pt"
    if not path.exists():
        torch.manual_seed(0)
        torch.save(build_model(arch, 10).state_dict(), path)
    return path


def export(ref: str, bits: str, head: str, out: Path, io: str, input_size: int | None = None,
           extra: tuple[str, ...] = ()) -> float:
    if ref.startswith(RANDOM):
        arch, weights = ref[len(RANDOM):], random_weights(ref[len(RANDOM):], out.parent)
    else:
        arch, weights = ARCH[ref], CACHE / f"{ref}.pt"
    command = [str(Path(sys.executable).with_name("catdeploy")), "export", arch,
               "--weights", str(weights), "--data", "fashion-mnist", "--bits", bits,
               "--io", io, "-o", str(out)]
    if input_size:
        command += ["--input-size", str(input_size)]
    if head == "cat":
        command.append("--cat")
    command += list(extra)
    t0 = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def verify(path: Path, samples: int) -> list[dict]:
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.check.verify import RESOLVERS, verify_model
    from catdeploy.integer import prepare_inputs
    from catdeploy.pipeline import eval_images, preprocessing_for_model

    model = path.read_bytes()
    x, _ = eval_images("fashion-mnist:test", samples, prep=preprocessing_for_model(path, model))
    inputs = prepare_inputs(model, x)
    return [r.to_dict() for r in verify_model(model, inputs, available_interpreters(), list(RESOLVERS))]


def table(rows: list[dict]) -> str:
    lines = ["| export | interpreter | resolver | profile | tensors | elements | mismatched | max diff |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    for row in rows:
        for r in row["runs"]:
            if r["error"]:
                lines.append(f"| {row['name']} | {r['interpreter']} {r['version']} | {r['resolver']} | "
                             f"— | does not load: {r['error'][:60]} | | | |")
                continue
            lines.append(f"| {row['name']} | {r['interpreter']} {r['version']} | {r['resolver']} | "
                         f"{r['profile']} | {r['tensors_compared']} | {r['elements_compared']} | "
                         f"{r['mismatched_elements']} | {r['max_abs_diff']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fmnist-r18,fmnist-mbv2")
    parser.add_argument("--bits", default="w8a8,w4a4,w2a2")
    parser.add_argument("--heads", default="plain,cat")
    parser.add_argument("--io", default="int8")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--out-dir", default="/tmp/catdeploy-profiles")
    parser.add_argument("--reuse", action="store_true", help="Verify existing exports, do not re-export.")
    parser.add_argument("--input-size", type=int, default=None, help="--input-size of the exports (random: models)")
    parser.add_argument("--export-args", default="", help="More `catdeploy export` options, e.g. "
                        "'--symmetric-weights --int4-weights' (name them with --tag)")
    parser.add_argument("--tag", default="", help="Suffix of the export names (e.g. int4)")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = Path(args.results)
    done = json.loads(results_path.read_text()) if results_path.exists() else {"rows": []}
    rows = {row["name"]: row for row in done.get("rows", [])}
    for ref in args.models.split(","):
        for bits in args.bits.split(","):
            for head in args.heads.split(","):
                name = (f"{ref.replace(RANDOM, 'random-')}_{bits.replace(':', '')}_{head}"
                        + ("" if args.io == "int8" else f"_{args.io}io") + (f"_{args.tag}" if args.tag else ""))
                path = out_dir / f"{name}.tflite"
                export_s = None
                if not (args.reuse and path.exists()):
                    export_s = export(ref, bits, head, path, args.io, args.input_size,
                                      tuple(shlex.split(args.export_args)))
                t0 = time.perf_counter()
                runs = verify(path, args.samples)
                row = {"name": name, "model": ref, "bits": bits, "head": head, "io": args.io, "export_args": args.export_args,
                       "samples": args.samples, "export_s": export_s,
                       "verify_s": round(time.perf_counter() - t0, 1), "runs": runs}
                rows[name] = row
                bad = [f"{r['interpreter']}/{r['resolver']}" for r in runs if not r["bit_exact"]]
                print(f"{name}: {len(runs)} pairs, not bit-exact: {bad or 'none'}", flush=True)
                results_path.parent.mkdir(parents=True, exist_ok=True)
                results_path.write_text(json.dumps({"machine": platform.machine(), "python": platform.python_version(),
                                                    "rows": list(rows.values())}, indent=1))
    print(table(list(rows.values())))
    return 0 if all(r["bit_exact"] or r["error"] for row in rows.values() for r in row["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
