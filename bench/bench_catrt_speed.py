"""catrt speed against TFLite's built-in kernels: images/s, single thread, the same int8 inputs.

For each reference model and bit setting (the RTN bases bench_recon.py keeps, else calibrated
here): catrt batched (batch 256) and at batch 1, against tflite-runtime's BUILTIN_WITHOUT_DEFAULT_DELEGATES
(optimized kernels, no XNNPACK) and BUILTIN_REF, each with num_threads=1, batch 1 as deployed.
catrt runs with numpy's BLAS limited to one thread (OPENBLAS/OMP/MKL_NUM_THREADS=1, set before
numpy loads). Rounds alternate catrt and TFLite (so background load hits both); each number is the
median over rounds. A per-op-kind profile of catrt's batched run shows where its time goes.
catrt's outputs are checked equal to BUILTIN_REF's on every image (the speed is of the exact path).

    python bench/bench_catrt_speed.py [--models fmnist-r18,fmnist-mbv2] [--bits w8a8,w4a4] [--images 2000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

from bench_common import ARCH, BENCH, cpu_name, write_doc  # noqa: E402

RESULTS = BENCH / "results" / "catrt_speed.json"
BEGIN, END = "<!-- catrt-speed:begin -->", "<!-- catrt-speed:end -->"

# run with cwd=bench/ (`python -c` puts the working directory first on sys.path: bench_common)
TFLITE_WORKER = """
import json, sys, time
import numpy as np
from bench_common import tflite_builder
model, images, resolver, out = sys.argv[1:5]
build, version = tflite_builder("tflite-runtime")
interp = build(model, resolver, num_threads=1)
interp.allocate_tensors()
d_in, d_out = interp.get_input_details()[0], interp.get_output_details()[0]
x = np.load(images)
outputs = np.empty((len(x), int(d_out["shape"][-1])), np.int8)
t0 = time.perf_counter()
for i in range(len(x)):
    interp.set_tensor(d_in["index"], x[i:i + 1])
    interp.invoke()
    outputs[i] = interp.get_tensor(d_out["index"])[0]
seconds = time.perf_counter() - t0
np.save(out, outputs)
print(json.dumps({"seconds": seconds, "version": version}))
"""


def tflite_run(model_path: str, images_path: str, resolver: str, out_path: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", TFLITE_WORKER, model_path, images_path, resolver, out_path],
                          capture_output=True, text=True, cwd=str(BENCH))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def catrt_run(model: bytes, x: np.ndarray, batch: int) -> tuple[float, np.ndarray]:
    from catrt import Interpreter

    interp = Interpreter(model)
    name = interp.get_input_details()[0].name
    outs = []
    t0 = time.perf_counter()
    for s in range(0, len(x), batch):
        outs.append(next(iter(interp.run({name: x[s:s + batch]}).values())))
    return time.perf_counter() - t0, np.concatenate(outs)


def catrt_profile(model: bytes, x: np.ndarray) -> dict[str, float]:
    """Seconds per op kind for one batched run of x."""
    from catrt import Interpreter

    interp = Interpreter(model)
    values = interp.initial_values({interp.get_input_details()[0].name: x})
    kinds: dict[str, float] = {}
    for index in range(interp.num_ops):
        kind = interp._prepared[index][0].kind
        t0 = time.perf_counter()
        interp.evaluate_op(index, values)
        kinds[kind] = kinds.get(kind, 0.0) + time.perf_counter() - t0
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))


def load_model(ref: str, bits: str, samples: int) -> tuple[bytes, str]:
    import hashlib

    from catdeploy.integer import program_bytes
    from catdeploy.pipeline import calibrate_model, load_quantized
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.train import reference_checkpoint

    base = Path.home() / ".cache" / "catdeploy" / "bench" / "recon" / f"{ref}_{bits}_rtn_fast_default.qg"
    weights = reference_checkpoint(ref)
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    if base.is_file():
        qg = load_quantized(base)
    else:
        qg = calibrate_model(ARCH[ref], str(weights), "fashion-mnist", CalibrationOptions(bits=bits, samples=samples))
    return program_bytes(qg), sha


def measure(ref: str, bits: str, args) -> dict:
    from catdeploy.integer import prepare_inputs
    from catdeploy.pipeline import eval_images

    model, sha = load_model(ref, bits, args.samples)
    x, _ = eval_images("fashion-mnist", args.images)
    xq = prepare_inputs(model, x)
    rounds = {"catrt batch 256": [], "catrt batch 1": [], "nodelegate": [], "ref": []}
    equal = True
    with tempfile.TemporaryDirectory() as tmp:
        model_path, images_path = str(Path(tmp) / "m.tflite"), str(Path(tmp) / "x.npy")
        Path(model_path).write_bytes(model)
        np.save(images_path, xq)
        ref_images_path = str(Path(tmp) / "x_ref.npy")
        np.save(ref_images_path, xq[:args.ref_images])
        version = None
        for _ in range(args.rounds):
            seconds, catrt_out = catrt_run(model, xq, 256)
            rounds["catrt batch 256"].append(len(xq) / seconds)
            seconds, _ = catrt_run(model, xq[:args.batch1_images], 1)
            rounds["catrt batch 1"].append(args.batch1_images / seconds)
            r = tflite_run(model_path, images_path, "nodelegate", str(Path(tmp) / "o.npy"))
            rounds["nodelegate"].append(len(xq) / r["seconds"])
            version = r["version"]
            r = tflite_run(model_path, ref_images_path, "ref", str(Path(tmp) / "o_ref.npy"))
            rounds["ref"].append(args.ref_images / r["seconds"])
            equal &= bool(np.array_equal(np.load(Path(tmp) / "o_ref.npy"), catrt_out[:args.ref_images]))
    profile = catrt_profile(model, xq[:256])
    total = sum(profile.values())
    medians = {k: float(np.median(v)) for k, v in rounds.items()}
    return {"model": ref, "bits": bits, "weights_sha256": sha, "images": int(len(xq)),
            "batch1_images": args.batch1_images, "ref_images": args.ref_images, "rounds": args.rounds,
            "images_per_s": medians, "all_rounds": rounds, "tflite_runtime": version,
            "catrt_equals_ref": equal, "profile_share": {k: round(v / total, 3) for k, v in list(profile.items())[:6]},
            "other_load": args.other_load, "date": time.strftime("%Y-%m-%d")}


def markdown(rows: list[dict]) -> str:
    import numpy

    first = rows[0]
    lines = [BEGIN, "## catrt speed against TFLite's built-in kernels", "",
             f"Measured {first['date']} on {cpu_name()}, numpy {numpy.__version__}, tflite-runtime "
             f"{first['tflite_runtime']}; single thread everywhere (TFLite num_threads=1; numpy BLAS 1 thread). "
             f"Fashion-MNIST test images as int8 inputs; catrt batched at 256 on {first['images']} images and at "
             f"batch 1 on {first['batch1_images']}; TFLite at batch 1 (as deployed), optimized kernels without "
             f"XNNPACK (BUILTIN_WITHOUT_DEFAULT_DELEGATES) on {first['images']} images and the reference kernels "
             f"(BUILTIN_REF) on {first['ref_images']}; medians over {first['rounds']} alternating rounds. Ratio = "
             f"catrt / TFLite optimized (goal: batched >= 0.5). catrt = BUILTIN_REF checked on every image of "
             f"the REF run. RTN models (default convention). Bench: `bench/bench_catrt_speed.py`.", ""]
    if any(r["other_load"] for r in rows):
        lines += [f"Load: {first['other_load']} (not a clean machine; the rounds alternate, so the ratios "
                  f"are fairer than the absolute numbers).", ""]
    lines += ["| model | checkpoint | bits | catrt batch 256 img/s | catrt batch 1 img/s | TFLite optimized img/s | "
              "TFLite REF img/s | batched / optimized | batch 1 / optimized | catrt = REF | catrt time by op |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["images_per_s"]
        prof = ", ".join(f"{k} {v * 100:.0f} %" for k, v in list(r["profile_share"].items())[:3])
        lines.append(f"| {r['model']} | `{r['weights_sha256'][:16]}` | {r['bits']} | {m['catrt batch 256']:.0f} | "
                     f"{m['catrt batch 1']:.1f} | {m['nodelegate']:.0f} | {m['ref']:.1f} | "
                     f"{m['catrt batch 256'] / m['nodelegate']:.2f} | {m['catrt batch 1'] / m['nodelegate']:.3f} | "
                     f"{'yes' if r['catrt_equals_ref'] else 'NO'} | {prof} |")
    lines.append(END)
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="fmnist-r18,fmnist-mbv2")
    p.add_argument("--bits", default="w8a8,w4a4")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--batch1-images", type=int, default=100)
    p.add_argument("--ref-images", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--samples", type=int, default=1024, help="calibration images when no base is cached")
    p.add_argument("--other-load", default="")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--no-doc", action="store_true")
    args = p.parse_args(argv)
    rows = []
    for ref in [m for m in args.models.split(",") if m]:
        for bits in [b for b in args.bits.split(",") if b]:
            row = measure(ref, bits, args)
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("model", "bits", "images_per_s", "catrt_equals_ref", "profile_share")}),
                  flush=True)
    Path(args.results).write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    if not args.no_doc:
        write_doc(markdown(rows), BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
