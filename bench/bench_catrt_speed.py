"""catrt speed against TFLite's built-in kernels: images/s, single thread, the same int8 inputs.

For each reference model and bit setting (the RTN bases bench_recon.py keeps, else calibrated
here): catrt batched (batch 256) and at batch 1, against tflite-runtime's BUILTIN_WITHOUT_DEFAULT_DELEGATES
(optimized kernels, no XNNPACK) and BUILTIN_REF, each with num_threads=1, batch 1 as deployed.
catrt runs with numpy's BLAS limited to one thread (OPENBLAS/OMP/MKL_NUM_THREADS=1, set before
numpy loads). Rounds alternate catrt and TFLite (so background load hits both); each number is the
median over rounds. A per-op-kind profile of catrt's batched run shows where its time goes.
catrt's outputs are checked equal to BUILTIN_REF's on every image (the speed is of the exact path).

    python bench/bench_catrt_speed.py [--models fmnist-r18,fmnist-mbv2] [--bits w8a8,w4a4] [--images 2000]

--section edge writes the edge-model table instead (bench/results/catrt_speed_edge.json, rows
merged by model, bits and input size): FMNIST-MBV2 / MBV3S / EffB0 at W4A4 on 32x32 images
(reference checkpoints) and, with --input-size 224, the same torchvision architectures with
random weights (seed 0) calibrated on Fashion-MNIST resized to 224x224, as users deploy them:

    python bench/bench_catrt_speed.py --section edge --images 10000
    python bench/bench_catrt_speed.py --section edge --input-size 224 --images 1000 --batch 16 \
        --batch1-images 0 --ref-images 20 --samples 128
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
EDGE_RESULTS = BENCH / "results" / "catrt_speed_edge.json"
EDGE_BEGIN, EDGE_END = "<!-- catrt-speed-edge:begin -->", "<!-- catrt-speed-edge:end -->"
EDGE_MODELS = "fmnist-mbv2,fmnist-mbv3s,fmnist-effb0"

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


def random_weights(arch: str) -> Path:
    """A state dict of `arch` (10 classes) with torch's default initialisation under seed 0."""
    import torch

    from catdeploy.data.zoo import build_model

    path = Path.home() / ".cache" / "catdeploy" / "bench" / "catrt_speed" / f"random-{arch}.pt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(build_model(arch).state_dict(), path)
    return path


def load_edge_model(ref: str, bits: str, input_size: int, samples: int) -> tuple[bytes, str, str]:
    """(program bytes, weights sha256, weights label): the reference checkpoint at 32x32, random
    weights (seed 0) at any other size; RTN, calibrated once and cached."""
    import hashlib

    from catdeploy.integer import program_bytes
    from catdeploy.pipeline import InputOptions, calibrate_model, load_quantized
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.quant.quantized_graph import save_quantized_graph
    from catdeploy.train import reference_checkpoint

    if input_size == 32:
        weights, label = reference_checkpoint(ref), ref
    else:
        weights, label = random_weights(ARCH[ref]), f"random {ARCH[ref]} (seed 0)"
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    cached = (Path.home() / ".cache" / "catdeploy" / "bench" / "catrt_speed"
              / f"{ref}_{bits}_{input_size}_{samples}_{sha[:16]}.qg")
    if cached.is_file():
        qg = load_quantized(cached)
    else:
        qg = calibrate_model(ARCH[ref], str(weights), "fashion-mnist", CalibrationOptions(bits=bits, samples=samples),
                             inputs=InputOptions(input_size=input_size))
        cached.parent.mkdir(parents=True, exist_ok=True)
        save_quantized_graph(qg, cached)
    return program_bytes(qg), sha, label


def test_inputs(model: bytes, images: int, input_size: int) -> np.ndarray:
    """The int8 model inputs of the first `images` Fashion-MNIST test images at `input_size`
    (preprocessed a chunk at a time: 1000 float images at 224x224 are 600 MB)."""
    from catdeploy.integer import prepare_inputs
    from catdeploy.pipeline import eval_chunks

    return np.concatenate([prepare_inputs(model, x) for x, _ in
                           eval_chunks("fashion-mnist", images, input_size=input_size, chunk_bytes=64 * 2**20)])


def measure(ref: str, bits: str, args) -> dict:
    from catdeploy.integer import prepare_inputs
    from catdeploy.pipeline import eval_images

    if args.section == "edge":
        model, sha, weights = load_edge_model(ref, bits, args.input_size, args.samples)
        xq = test_inputs(model, args.images, args.input_size)
    else:
        model, sha = load_model(ref, bits, args.samples)
        weights = ref
        x, _ = eval_images("fashion-mnist", args.images)
        xq = prepare_inputs(model, x)
    batched = f"catrt batch {args.batch}"
    rounds = {batched: [], "catrt batch 1": [], "nodelegate": [], "ref": []}
    equal = True
    with tempfile.TemporaryDirectory() as tmp:
        model_path, images_path = str(Path(tmp) / "m.tflite"), str(Path(tmp) / "x.npy")
        Path(model_path).write_bytes(model)
        np.save(images_path, xq)
        ref_images_path = str(Path(tmp) / "x_ref.npy")
        np.save(ref_images_path, xq[:args.ref_images])
        version = None
        for _ in range(args.rounds):
            seconds, catrt_out = catrt_run(model, xq, args.batch)
            rounds[batched].append(len(xq) / seconds)
            if args.batch1_images:
                seconds, _ = catrt_run(model, xq[:args.batch1_images], 1)
                rounds["catrt batch 1"].append(args.batch1_images / seconds)
            r = tflite_run(model_path, images_path, "nodelegate", str(Path(tmp) / "o.npy"))
            rounds["nodelegate"].append(len(xq) / r["seconds"])
            version = r["version"]
            r = tflite_run(model_path, ref_images_path, "ref", str(Path(tmp) / "o_ref.npy"))
            rounds["ref"].append(args.ref_images / r["seconds"])
            equal &= bool(np.array_equal(np.load(Path(tmp) / "o_ref.npy"), catrt_out[:args.ref_images]))
    profile = catrt_profile(model, xq[:args.batch])
    total = sum(profile.values())
    medians = {k: float(np.median(v)) for k, v in rounds.items() if v}
    row = {"model": ref, "bits": bits, "weights_sha256": sha, "images": int(len(xq)),
           "batch1_images": args.batch1_images, "ref_images": args.ref_images, "rounds": args.rounds,
           "images_per_s": medians, "all_rounds": rounds, "tflite_runtime": version,
           "catrt_equals_ref": equal, "profile_share": {k: round(v / total, 3) for k, v in list(profile.items())[:6]},
           "other_load": args.other_load, "date": time.strftime("%Y-%m-%d")}
    if args.section == "edge":
        import catrt
        import numpy

        row.update(input_size=args.input_size, batch=args.batch, weights=weights, samples=args.samples,
                   cpu=cpu_name(), numpy=numpy.__version__, catrt=getattr(catrt, "__version__", "?"),
                   catrt_git=git_head())
    return row


def git_head() -> str:
    """The commit of the working tree (with '+dirty' when it has changes), for the results file."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=str(BENCH.parent)).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "runtime"], capture_output=True, text=True,
                               cwd=str(BENCH.parent)).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except OSError:
        return "?"


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


def edge_markdown(rows: list[dict], notes: list[str] = ()) -> str:
    """The edge-model section: one row per model, bits and input size, then the results file's
    `notes` (Markdown lines kept there by hand: measurements this script does not make)."""
    import platform

    first = rows[0]
    sizes = sorted({r["input_size"] for r in rows})
    lines = [EDGE_BEGIN, "## catrt speed on the edge models (32x32 and 224x224)", "",
             f"Measured {', '.join(sorted({r['date'] for r in rows}))} on {first['cpu']}, python "
             f"{platform.python_version()}, numpy {first['numpy']}, catrt {first['catrt']} "
             f"(tree {', '.join(sorted({r['catrt_git'] for r in rows}))}), tflite-runtime {first['tflite_runtime']}; "
             "single thread everywhere (TFLite num_threads=1; OPENBLAS/OMP/MKL_NUM_THREADS=1). Fashion-MNIST test "
             "images as int8 inputs. catrt batched (batch column) under its default profile (ref-tflite214); TFLite "
             "at batch 1 (as deployed) with its optimized kernels without XNNPACK "
             "(BUILTIN_WITHOUT_DEFAULT_DELEGATES, the `nodelegate` resolver) on the same images, alternating with "
             "catrt in each round; img/s = median over the rounds. Ratio = catrt batched / TFLite optimized "
             "(goal >= 0.5). catrt = REF: catrt's outputs equal tflite-runtime's BUILTIN_REF on the first "
             "`ref images` of every round. W4A4 RTN, default convention (first conv and last FC 8 bit); 32x32: the "
             "reference checkpoints; "
             f"{', '.join(str(s) for s in sizes if s != 32) or '224'}: the torchvision architecture with random "
             "weights (torch.manual_seed(0), 10 classes), calibrated on train images at that size. "
             "`catrt time by op`: share of catrt's batched time per op kind (one batch). Bench: "
             "`bench/bench_catrt_speed.py --section edge`.", ""]
    loads = sorted({r["other_load"] for r in rows if r["other_load"]})
    if loads:
        lines += [f"Load: {'; '.join(loads)} (not a clean machine; the rounds alternate, so the ratios are fairer "
                  "than the absolute numbers).", ""]
    lines += ["| model | input | weights (sha256) | bits | calibration images | images | rounds | catrt batch | "
              "catrt img/s | TFLite optimized img/s | catrt / optimized | catrt = REF (ref images) | catrt time by op |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["input_size"], r["model"], r["bits"])):
        m = r["images_per_s"]
        catrt = m[f"catrt batch {r['batch']}"]
        prof = ", ".join(f"{k} {v * 100:.0f} %" for k, v in list(r["profile_share"].items())[:3])
        weights = r["model"] if r["input_size"] == 32 else r["weights"]
        lines.append(f"| {r['model']} | {r['input_size']}x{r['input_size']} | {weights} `{r['weights_sha256'][:16]}` | "
                     f"{r['bits']} | {r['samples']} | {r['images']} | {r['rounds']} | {r['batch']} | {catrt:.1f} | "
                     f"{m['nodelegate']:.1f} | {catrt / m['nodelegate']:.2f} | "
                     f"{'yes' if r['catrt_equals_ref'] else 'NO'} ({r['ref_images']}) | {prof} |")
    if notes:
        lines += [""] + list(notes)
    lines.append(EDGE_END)
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
    p.add_argument("--results", default=None, help="default: bench/results/catrt_speed.json "
                   "(catrt_speed_edge.json with --section edge)")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--section", choices=("speed", "edge"), default="speed",
                   help="edge: the edge models (default --models) at W4A4, 32x32 or --input-size")
    p.add_argument("--input-size", type=int, default=32, help="edge section: 32 (reference checkpoints) "
                   "or e.g. 224 (random weights)")
    p.add_argument("--batch", type=int, default=256, help="catrt's batch")
    args = p.parse_args(argv)
    if args.section == "edge":
        if args.models == "fmnist-r18,fmnist-mbv2":
            args.models = EDGE_MODELS
        if args.bits == "w8a8,w4a4":
            args.bits = "w4a4"
        return edge_main(args)
    if args.results is None:
        args.results = str(RESULTS)
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


def edge_main(args) -> int:
    results = Path(args.results or EDGE_RESULTS)
    stored = json.loads(results.read_text()) if results.exists() else {}
    notes = stored.get("notes", [])
    rows = {(r["model"], r["bits"], r["input_size"]): r for r in stored.get("rows", [])}
    for ref in [m for m in args.models.split(",") if m]:
        for bits in [b for b in args.bits.split(",") if b]:
            row = measure(ref, bits, args)
            rows[(ref, bits, args.input_size)] = row
            print(json.dumps({k: row[k] for k in ("model", "bits", "input_size", "images_per_s",
                                                  "catrt_equals_ref", "profile_share")}), flush=True)
            results.parent.mkdir(parents=True, exist_ok=True)
            results.write_text(json.dumps({"rows": list(rows.values()), "notes": notes}, indent=1) + "\n")
    if not args.no_doc:
        write_doc(edge_markdown(list(rows.values()), notes), EDGE_BEGIN, EDGE_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
