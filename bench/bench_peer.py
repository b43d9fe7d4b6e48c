"""Peer comparison: our W8A8 integer graph against TensorFlow's own TFLite converter (full-integer PTQ).

The same FP model (a reference checkpoint) goes two ways:
- ours: `catdeploy calibrate --bits w8a8` (RTN, Lp ranges, default convention) on the 1024 seeded
  calibration images, lowered and written by our writer;
- theirs: ONNX (torch.onnx, dynamic batch axis so that onnx2tf stays offline) -> onnx2tf 1.29's
  SavedModel -> tf.lite.TFLiteConverter with Optimize.DEFAULT, TFLITE_BUILTINS_INT8, int8 input
  and output, representative_dataset = the same 1024 images (NHWC).

Measured: integer top-1 on the 10 000 test images (both files under the same interpreter and
resolver), file size, op count, and single-thread batch-1 latency of each interpreter with XNNPACK
on (AUTO) and off (BUILTIN_WITHOUT_DEFAULT_DELEGATES), as medians of interleaved rounds (ours and
theirs alternate, so background load hits both alike) and the ratio ours / theirs.

    python bench/bench_peer.py [--models fmnist-r18,fmnist-mbv2] [--rounds 7 --per-round 30] [--no-doc]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_common import ARCH, BENCH, cpu_name, tflite_builder, write_doc

RESULTS = BENCH / "results" / "peer.json"
CACHE = Path.home() / ".cache" / "catdeploy" / "bench" / "peer"
BEGIN, END = "<!-- peer:begin -->", "<!-- peer:end -->"
PEER_FIX_NOTE = ("The peer needed one fix to run at all: onnx2tf lowers a padded MaxPool to PADV2 with "
                 "-FLT_MAX, the converter calibrates that tensor to scale 1.3e36 and the next ADD's Prepare "
                 "aborts (SIGABRT in QuantizeMultiplierSmallerThanOneExp) in all three interpreters; the bench "
                 "rewrites the ONNX MaxPool as Pad(0) + MaxPool, exact after ReLU (zero_pad_max_pools).")
LATENCY_RESOLVERS = {"auto": "XNNPACK on (AUTO)", "nodelegate": "XNNPACK off (BUILTIN_WITHOUT_DEFAULT_DELEGATES)"}


# ----------------------------------------------------------------------------------------------
# theirs: torch -> ONNX -> onnx2tf SavedModel -> TF converter int8

def export_onnx(model, path: Path, input_shape: tuple[int, ...]) -> None:
    import torch

    torch.onnx.export(model, (torch.zeros(input_shape),), str(path), dynamo=False, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17)


def zero_pad_max_pools(onnx_path: Path) -> int:
    """Rewrite each padded MaxPool whose input comes from a Relu as Pad(0) + unpadded MaxPool.

    Exact (a window always holds a real value >= 0, so a zero pad never wins), and needed: onnx2tf
    lowers MaxPool padding to PADV2 with the float minimum, the converter calibrates that tensor's
    range to about -3.4e38 (scale 1.3e36), and the next ADD's Prepare aborts in every interpreter.
    Returns the number of MaxPools rewritten."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(onnx_path))
    producers = {out: node for node in model.graph.node for out in node.output}
    rewritten, nodes = 0, []
    for node in model.graph.node:
        pads = next((list(a.ints) for a in node.attribute if a.name == "pads"), None)
        source = producers.get(node.input[0]) if node.input else None
        if node.op_type == "MaxPool" and pads and any(pads) and source is not None and source.op_type == "Relu":
            half = len(pads) // 2
            name = f"{node.name or node.output[0]}_zero_pad"
            pad_values = numpy_helper.from_array(np.array([0, 0, *pads[:half], 0, 0, *pads[half:]], np.int64),
                                                 name + "_pads")
            model.graph.initializer.append(pad_values)
            nodes.append(helper.make_node("Pad", [node.input[0], pad_values.name], [name], mode="constant", name=name))
            for a in node.attribute:
                if a.name == "pads":
                    del a.ints[:]
                    a.ints.extend([0] * len(pads))
            node.input[0] = name
            rewritten += 1
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))
    return rewritten


def convert_worker(onnx_path: str, calib_path: str, out_dir: str) -> None:
    """In its own process (TensorFlow and torch apart): onnx2tf, then the TF converter."""
    import onnx2tf
    import tensorflow as tf

    saved = Path(out_dir) / "saved_model"
    t0 = time.perf_counter()
    onnx2tf.convert(input_onnx_file_path=onnx_path, output_folder_path=str(saved), non_verbose=True,
                    output_signaturedefs=True, copy_onnx_input_output_names_to_tflite=True)
    onnx2tf_s = time.perf_counter() - t0
    calib = np.load(calib_path)
    # The SavedModel keeps onnx2tf's dynamic batch; converted as is, its int8 graph computes the
    # flatten shape at run time and neither XNNPACK nor the built-in kernels can prepare it. Batch 1
    # is what a device runs: convert a concrete function with a static [1, H, W, C] input.
    loaded = tf.saved_model.load(str(saved))
    serving = loaded.signatures["serving_default"]
    input_name = list(serving.structured_input_signature[1].keys())[0]
    output_name = list(serving.structured_outputs.keys())[0]
    spec = tf.TensorSpec([1, *calib.shape[1:]], tf.float32, name=input_name)
    function = tf.function(lambda x: serving(**{input_name: x})[output_name], input_signature=[spec])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], loaded)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([calib[i:i + 1]] for i in range(len(calib)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    t0 = time.perf_counter()
    model = converter.convert()
    convert_s = time.perf_counter() - t0
    (Path(out_dir) / "int8.tflite").write_bytes(model)
    float_model = next(saved.glob("*_float32.tflite"))
    (Path(out_dir) / "float32.tflite").write_bytes(float_model.read_bytes())
    (Path(out_dir) / "times.json").write_text(json.dumps({"onnx2tf_s": onnx2tf_s, "tf_convert_s": convert_s,
                                                          "tensorflow": tf.__version__,
                                                          "onnx2tf": onnx2tf.__version__}))


def peer_model(ref: str, model, calib_nchw: np.ndarray, sha: str) -> tuple[bytes, dict]:
    """TF converter's int8 .tflite of `model` (cached by checkpoint sha256 and calibration set)."""
    key = hashlib.sha256(sha.encode() + calib_nchw.tobytes() + b"zero-pad-max-pool").hexdigest()[:16]
    out = CACHE / f"{ref}_{key}"
    if not (out / "int8.tflite").is_file():
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = Path(tmp) / f"{ref}.onnx"
            export_onnx(model, onnx_path, (1, *calib_nchw.shape[1:]))
            rewritten = zero_pad_max_pools(onnx_path)
            calib_path = Path(tmp) / "calib_nhwc.npy"
            np.save(calib_path, np.ascontiguousarray(calib_nchw.transpose(0, 2, 3, 1)))
            proc = subprocess.run([sys.executable, __file__, "--convert-worker", str(onnx_path), str(calib_path),
                                   str(out)], cwd=tmp, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"peer conversion failed: {proc.stderr[-3000:]}")
            times = json.loads((out / "times.json").read_text())
            (out / "times.json").write_text(json.dumps({**times, "max_pools_zero_padded": rewritten}))
    return (out / "int8.tflite").read_bytes(), json.loads((out / "times.json").read_text())


# ----------------------------------------------------------------------------------------------
# running both files: accuracy and latency, each interpreter in its own process

def run_worker(request_path: str, result_path: str) -> None:
    """Accuracy (all images, batch 1 model resized to the batch) and interleaved latency."""
    req = json.loads(Path(request_path).read_text())
    build, version = tflite_builder(req["interpreter"])   # build(path, resolver): one thread
    images = np.load(req["images"])  # NHWC float32
    out: dict = {"version": version, "models": {}}

    def quantized(interp, x):
        d = interp.get_input_details()[0]
        scale, zp = d["quantization"]
        return np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)

    def argmax(path: str, resolver: str) -> tuple[list, int]:
        interp = build(path, resolver)
        d_in, d_out = interp.get_input_details()[0], interp.get_output_details()[0]
        # Batch 1, as deployed (resizing the batch aborts inside allocate_tensors for the
        # converter's graph: its RESHAPE keeps a constant batch of 1).
        interp.allocate_tensors()
        logits = np.empty((len(images), int(d_out["shape"][-1])), np.int8)
        for i in range(len(images)):
            interp.set_tensor(d_in["index"], quantized(interp, images[i:i + 1]))
            interp.invoke()
            logits[i] = interp.get_tensor(d_out["index"])[0]
        kinds: dict[str, int] = {}
        for op in interp._get_ops_details():
            kinds[op["op_name"]] = kinds.get(op["op_name"], 0) + 1
        return logits.argmax(1).tolist(), len(interp._get_ops_details()), dict(sorted(kinds.items()))

    for name, path in req["models"].items():
        first, ops, kinds = argmax(path, req["accuracy_resolver"])
        out["models"][name] = {"argmax": first, "ops": ops, "op_kinds": kinds,
                               "argmax_by_resolver": {req["accuracy_resolver"]: first}}
        for resolver in req.get("more_accuracy_resolvers", []):
            if name not in req.get("skip", {}).get(resolver, []):
                out["models"][name]["argmax_by_resolver"][resolver] = argmax(path, resolver)[0]
    latency: dict = {}
    for resolver in req["latency_resolvers"]:
        interps = {}
        for name, path in req["models"].items():
            if name in req.get("skip", {}).get(resolver, []):
                continue
            interp = build(path, resolver)
            interp.allocate_tensors()
            d_in = interp.get_input_details()[0]
            interp.set_tensor(d_in["index"], quantized(interp, images[:1]))
            for _ in range(req["warmup"]):
                interp.invoke()
            interps[name] = interp
        times = {name: [] for name in interps}
        for _ in range(req["rounds"]):
            for name, interp in interps.items():
                for _ in range(req["per_round"]):
                    t0 = time.perf_counter_ns()
                    interp.invoke()
                    times[name].append((time.perf_counter_ns() - t0) / 1e6)
        latency[resolver] = {name: {"median_ms": float(np.median(t)), "p10_ms": float(np.percentile(t, 10)),
                                    "p90_ms": float(np.percentile(t, 90)), "runs": len(t)}
                             for name, t in times.items()}
    out["latency"] = latency
    Path(result_path).write_text(json.dumps(out))


# run with cwd=bench/ (`python -c` puts the working directory first on sys.path: bench_common)
PROBE = """
import sys
from bench_common import tflite_builder
build, _ = tflite_builder(sys.argv[1])
interp = build(sys.argv[2], sys.argv[3], num_threads=1)
bad = [(t["name"], float(t["quantization"][0])) for t in interp.get_tensor_details() if t["quantization"][0] > 1e3]
print(repr(bad[:3]), flush=True)
interp.allocate_tensors()
interp.invoke()
"""


def probe(interpreter: str, path: str, resolver: str) -> str | None:
    """None when `path` prepares and runs under interpreter/resolver, else why not (a kernel's
    Prepare may abort the process, hence a process of its own)."""
    proc = subprocess.run([sys.executable, "-c", PROBE, interpreter, path, resolver], capture_output=True,
                          text=True, cwd=str(BENCH))
    if proc.returncode == 0:
        return None
    how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
    errors = [line.strip() for line in proc.stderr.splitlines() if "Error" in line]
    scales = proc.stdout.strip().splitlines()[:1]
    detail = errors[-1] if errors else "aborted in allocate_tensors"
    return f"{how}: {detail}" + (f"; tensors with scale > 1e3: {scales[0]}" if scales and scales[0] != "[]" else "")


def run_interpreter(interpreter: str, models: dict[str, bytes], images_nhwc: np.ndarray, args,
                    latency_resolvers=tuple(LATENCY_RESOLVERS), more_accuracy_resolvers=()) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        paths, failures, skip = {}, {}, {}
        for name, data in models.items():
            path = str(Path(tmp) / f"{name}.tflite")
            Path(path).write_bytes(data)
            reasons = {r: probe(interpreter, path, r) for r in dict.fromkeys((args.accuracy_resolver, *latency_resolvers,
                                                                               *more_accuracy_resolvers))}
            reasons = {r: why for r, why in reasons.items() if why}
            if reasons:
                failures[name] = reasons
            if args.accuracy_resolver not in reasons:  # measured under the resolvers that load it
                paths[name] = path
                for r in reasons:
                    skip.setdefault(r, []).append(name)
        np.save(Path(tmp) / "images.npy", images_nhwc)
        request = {"interpreter": interpreter, "models": paths, "images": str(Path(tmp) / "images.npy"),
                   "accuracy_resolver": args.accuracy_resolver, "latency_resolvers": list(latency_resolvers),
                   "warmup": args.warmup, "rounds": args.rounds, "per_round": args.per_round,
                   "more_accuracy_resolvers": [r for r in more_accuracy_resolvers if r != args.accuracy_resolver],
                   "skip": skip}
        (Path(tmp) / "request.json").write_text(json.dumps(request))
        env = dict(os.environ, OMP_NUM_THREADS="1")
        proc = subprocess.run([sys.executable, __file__, "--run-worker", str(Path(tmp) / "request.json"),
                               str(Path(tmp) / "result.json")], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{interpreter}: exit {proc.returncode}: {proc.stderr[-3000:]} {proc.stdout[-1000:]}")
        result = json.loads((Path(tmp) / "result.json").read_text())
        result["failures"] = failures
        return result


# ----------------------------------------------------------------------------------------------

def measure(ref: str, args) -> dict:
    import torch

    from catdeploy import api
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.integer import program_bytes
    from catdeploy.pipeline import calibrate_model, calibration_data, eval_images
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.train import reference_checkpoint

    torch.set_num_threads(args.threads)
    weights = reference_checkpoint(ref)
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    model, _ = api.load_float_model(ARCH[ref], weights)
    calib = calibration_data("fashion-mnist", args.samples, 0)[0]
    t0 = time.perf_counter()
    qg = calibrate_model(ARCH[ref], str(weights), "fashion-mnist", CalibrationOptions(bits="w8a8", samples=args.samples))
    ours_calibrate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = program_bytes(qg)
    ours_export_s = time.perf_counter() - t0
    theirs, peer_times = peer_model(ref, model, calib, sha)
    x, y = eval_images("fashion-mnist", args.eval_samples)
    with torch.no_grad():
        fp_top1 = float((torch.cat([model(torch.from_numpy(x[i:i + 500])) for i in range(0, len(x), 500)])
                         .argmax(1).numpy() == y).mean() * 100)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    per_interpreter = {}
    for interpreter in [i for i in ("litert", "tflite-runtime") if i in available_interpreters()]:
        r = run_interpreter(interpreter, {"ours": ours, "theirs": theirs}, x_nhwc, args)
        top1 = {name: float((np.asarray(m["argmax"]) == y).mean() * 100) for name, m in r["models"].items()}
        agreement = (float((np.asarray(r["models"]["ours"]["argmax"]) == np.asarray(r["models"]["theirs"]["argmax"])).mean() * 100)
                     if {"ours", "theirs"} <= set(r["models"]) else None)
        per_interpreter[interpreter] = {"version": r["version"], "top1": top1, "argmax_agreement": agreement,
                                        "ops": {n: m["ops"] for n, m in r["models"].items()},
                                        "op_kinds": {n: m.get("op_kinds", {}) for n, m in r["models"].items()},
                                        "latency": r["latency"],
                                        "failures": r["failures"]}
    return {"model": ref, "arch": ARCH[ref], "weights_sha256": sha, "fp_top1": fp_top1,
            "calibration_images": args.samples, "eval_images": int(len(y)),
            "ours": {"size_bytes": len(ours), "calibrate_s": round(ours_calibrate_s, 1),
                     "export_s": round(ours_export_s, 2), "sha256": hashlib.sha256(ours).hexdigest()},
            "theirs": {"size_bytes": len(theirs), **{k: (round(v, 1) if isinstance(v, float) else v)
                                                     for k, v in peer_times.items()},
                       "sha256": hashlib.sha256(theirs).hexdigest()},
            "interpreters": per_interpreter, "threads": args.threads, "other_load": args.other_load,
            "date": time.strftime("%Y-%m-%d")}


def markdown(rows: list[dict]) -> str:
    import torch

    from catdeploy.export.manifest import versions

    v = versions()
    first = rows[0]
    peer_versions = f"TensorFlow {first['theirs'].get('tensorflow')}, onnx2tf {first['theirs'].get('onnx2tf')}"
    lines = [BEGIN, "## Peer comparison: our W8A8 graph vs TensorFlow's TFLite converter", "",
             f"Measured {first['date']} on {cpu_name()}, torch {torch.__version__}, {peer_versions}, "
             f"tflite-runtime {v.get('tflite-runtime')}, ai-edge-litert {v.get('litert')}. Convention: default "
             f"(ours: RTN with Lp ranges, per-channel weights, first/last layer and FC input 8 bit - at W8A8 "
             f"everything is 8 bit); theirs: tf.lite.TFLiteConverter full-integer PTQ (Optimize.DEFAULT, "
             f"TFLITE_BUILTINS_INT8, int8 in/out) of onnx2tf's SavedModel of the same FP model. Both calibrated "
             f"on the same {first['calibration_images']} seeded Fashion-MNIST train images; top-1 on the "
             f"{first['eval_images']} test images, each file under the same interpreter and resolver "
             f"(accuracy resolver: see column). Latency: single thread, batch 1, medians of interleaved "
             f"rounds (ours / theirs alternate); ratio = ours / theirs. Bench: `bench/bench_peer.py`.", ""]
    if any(r["other_load"] for r in rows):
        lines += ["Load: " + "; ".join(f"{r['model']}: {r['other_load']}" for r in rows if r["other_load"])
                  + " (latency medians measured while other work shared the 2 cores; the ratios are "
                  "interleaved, the absolute numbers are not clean).", ""]
    lines += ["| model | checkpoint | FP top-1 | interpreter | ours top-1 | theirs top-1 | same argmax | "
              "ours size | theirs size | ours / theirs ops |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    failures = []
    for r in rows:
        for interp, m in r["interpreters"].items():
            def top1(name):
                return f"{m['top1'][name]:.2f}" if name in m["top1"] else "fails (see below)"

            agreement = "-" if m["argmax_agreement"] is None else f"{m['argmax_agreement']:.2f} %"
            ops = " / ".join(str(m["ops"].get(n, "-")) for n in ("ours", "theirs"))
            lines.append(f"| {r['model']} | `{r['weights_sha256'][:16]}` | {r['fp_top1']:.2f} | {interp} {m['version']} | "
                         f"{top1('ours')} | {top1('theirs')} | {agreement} | "
                         f"{r['ours']['size_bytes']:,} | {r['theirs']['size_bytes']:,} | {ops} |")
            for name, reasons in m["failures"].items():
                for resolver, why in reasons.items():
                    failures.append(f"- {r['model']}, {name}, {interp} {m['version']} `{resolver}`: {why}")
    lines += ["", "| model | interpreter | resolver | ours ms (median / p10) | theirs ms (median / p10) | "
              "ours / theirs (median) | ours / theirs (p10) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        for interp, m in r["interpreters"].items():
            for resolver, label in LATENCY_RESOLVERS.items():
                lat = m["latency"].get(resolver, {})
                cells = [f"{lat[n]['median_ms']:.3f} / {lat[n]['p10_ms']:.3f}" if n in lat else "fails"
                         for n in ("ours", "theirs")]
                ratios = [f"{lat['ours'][k] / lat['theirs'][k]:.3f}" if len(lat) == 2 else "-"
                          for k in ("median_ms", "p10_ms")]
                lines.append(f"| {r['model']} | {interp} {m['version']} | {label} | " + " | ".join(cells + ratios) + " |")
    if failures:
        lines += ["", "Files that an interpreter could not prepare or run (each probed in its own process):", *failures]
    diffs = []
    for r in rows:
        m = next(iter(r["interpreters"].values()), {})
        kinds = m.get("op_kinds", {})
        if {"ours", "theirs"} <= set(kinds):
            delta = {k: kinds["ours"].get(k, 0) - kinds["theirs"].get(k, 0)
                     for k in sorted(set(kinds["ours"]) | set(kinds["theirs"]))}
            shown = ", ".join(f"{k} {v:+d}" for k, v in delta.items() if v) or "none"
            diffs.append(f"{r['model']}: {shown}")
    if diffs:
        lines += ["", "Op kinds, ours minus theirs: " + "; ".join(diffs) + "."]
    ratios = [lat["ours"]["median_ms"] / lat["theirs"]["median_ms"]
              for r in rows for m in r["interpreters"].values() for lat in m["latency"].values() if len(lat) == 2]
    gaps = [m["top1"]["ours"] - m["top1"]["theirs"]
            for r in rows for m in r["interpreters"].values() if {"ours", "theirs"} <= set(m["top1"])]
    if ratios and gaps:
        lines += ["", f"Reading the numbers: median latency ratio ours / theirs {min(ratios):.3f} to "
                  f"{max(ratios):.3f} over every model, interpreter and resolver (goal <= 1.05); top-1 ours minus "
                  f"theirs {min(gaps):+.2f} to {max(gaps):+.2f} points (goal: within 0.1)."]
    lines += ["", PEER_FIX_NOTE]
    lines += ["", "Conversion cost: " + "; ".join(
        f"{r['model']}: ours calibrate {r['ours']['calibrate_s']} s + export {r['ours']['export_s']} s, theirs "
        f"onnx2tf {r['theirs'].get('onnx2tf_s')} s + converter {r['theirs'].get('tf_convert_s')} s" for r in rows) + ".",
              END]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--convert-worker"]:
        convert_worker(*argv[1:4])
        return 0
    if argv[:1] == ["--run-worker"]:
        run_worker(*argv[1:3])
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="fmnist-r18,fmnist-mbv2")
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--eval-samples", type=int, default=10000)
    p.add_argument("--accuracy-resolver", default="nodelegate")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--per-round", type=int, default=30)
    p.add_argument("--threads", type=int, default=1, help="torch threads for calibration")
    p.add_argument("--other-load", default="")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--no-doc", action="store_true")
    args = p.parse_args(argv)
    rows = []
    for ref in [m for m in args.models.split(",") if m]:
        row = measure(ref, args)
        rows.append(row)
        for interp, m in row["interpreters"].items():
            print(f"{ref} {interp}: top-1 {m['top1']}, latency {m['latency']}, failures {m['failures']}", flush=True)
    Path(args.results).write_text(json.dumps({"rows": rows}, indent=1))
    if not args.no_doc:
        write_doc(markdown(rows), BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
