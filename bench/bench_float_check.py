"""Float cross-check of our writer's layout handling (benchmarks.md table 5 companion): our float32
TFLite export (`catdeploy export --bits fp32`) against onnx2tf's float TFLite of the same model.

Per reference model: ours = capture -> float lowering -> our writer; theirs = torch.onnx (dynamic
batch axis, so onnx2tf stays offline) -> onnx2tf 1.29 -> its `*_float32.tflite`. Both run under the
same interpreter and resolver, one image per invoke, on the first --samples test images; reported:
max |ours - theirs| / max |theirs| over all logits (the acceptance asks <= 1e-4), the same for ours
against torch's float forward, and argmax agreement.

    python bench/bench_float_check.py [--models fmnist-r18,fmnist-mbv2] [--samples 1000] [--no-doc]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_common import ARCH, BENCH, cpu_name, tflite_builder, write_doc
from bench_peer import export_onnx

RESULTS = BENCH / "results" / "float_check.json"
BEGIN, END = "<!-- floatcheck:begin -->", "<!-- floatcheck:end -->"
RESOLVERS = ("ref", "nodelegate", "auto")


def onnx2tf_worker(onnx_path: str, out_dir: str) -> None:
    """In its own process: onnx2tf's float32 TFLite of `onnx_path`."""
    import onnx2tf

    onnx2tf.convert(input_onnx_file_path=onnx_path, output_folder_path=out_dir, non_verbose=True,
                    copy_onnx_input_output_names_to_tflite=True)
    found = next(Path(out_dir).glob("*_float32.tflite"))
    (Path(out_dir) / "theirs_float32.tflite").write_bytes(found.read_bytes())
    (Path(out_dir) / "version.json").write_text(json.dumps({"onnx2tf": onnx2tf.__version__}))


def run_worker(request_path: str, result_path: str) -> None:
    """Both files under one interpreter and each resolver, batch 1."""
    req = json.loads(Path(request_path).read_text())
    build, version = tflite_builder(req["interpreter"])
    images = np.load(req["images"])
    out = {"version": version, "logits": {}}
    for resolver in req["resolvers"]:
        for name, path in req["models"].items():
            interp = build(path, resolver, num_threads=1)
            d_in = interp.get_input_details()[0]
            if list(d_in["shape"][1:]) != list(images.shape[1:]) or d_in["shape"][0] != 1:
                interp.resize_tensor_input(d_in["index"], [1, *images.shape[1:]])
            interp.allocate_tensors()
            d_in, d_out = interp.get_input_details()[0], interp.get_output_details()[0]
            logits = []
            for i in range(len(images)):
                interp.set_tensor(d_in["index"], images[i:i + 1])
                interp.invoke()
                logits.append(interp.get_tensor(d_out["index"]).reshape(-1).copy())
            np.save(Path(result_path).with_name(f"{name}_{resolver}.npy"), np.stack(logits))
    Path(result_path).write_text(json.dumps(out))


def measure(ref: str, args) -> dict:
    import torch

    from catdeploy import api
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.lower.float_program import lower_float
    from catdeploy.pipeline import eval_images
    from catdeploy.train import reference_checkpoint

    torch.set_num_threads(1)
    weights = reference_checkpoint(ref)
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    model, _ = api.load_float_model(ARCH[ref], weights)
    x, y = eval_images("fashion-mnist", args.samples)
    t0 = time.perf_counter()
    ours = api.export_tflite(lower_float(api.capture(model, x.shape[2:], x.shape[1])))
    ours_s = time.perf_counter() - t0
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x)).numpy()
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    row = {"model": ref, "arch": ARCH[ref], "weights_sha256": sha, "samples": int(len(x)),
           "ours": {"size_bytes": len(ours), "export_s": round(ours_s, 2), "sha256": hashlib.sha256(ours).hexdigest()},
           "date": time.strftime("%Y-%m-%d"), "cpu": cpu_name(), "interpreters": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export_onnx(model, tmp / "model.onnx", (1, *x.shape[1:]))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--onnx2tf-worker", str(tmp / "model.onnx"), str(tmp / "o2t")],
                              cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"onnx2tf failed: {proc.stderr[-3000:]}")
        theirs = (tmp / "o2t" / "theirs_float32.tflite").read_bytes()
        row["theirs"] = {"size_bytes": len(theirs), "convert_s": round(time.perf_counter() - t0, 1),
                         **json.loads((tmp / "o2t" / "version.json").read_text()),
                         "sha256": hashlib.sha256(theirs).hexdigest()}
        (tmp / "ours.tflite").write_bytes(ours)
        np.save(tmp / "images.npy", x_nhwc)
        for interpreter in available_interpreters():
            request = {"interpreter": interpreter, "images": str(tmp / "images.npy"), "resolvers": list(RESOLVERS),
                       "models": {"ours": str(tmp / "ours.tflite"), "theirs": str(tmp / "o2t" / "theirs_float32.tflite")}}
            (tmp / "request.json").write_text(json.dumps(request))
            proc = subprocess.run([sys.executable, __file__, "--run-worker", str(tmp / "request.json"),
                                   str(tmp / "result.json")], capture_output=True, text=True)
            if proc.returncode != 0:
                row["interpreters"][interpreter] = {"error": proc.stderr.strip().splitlines()[-1][:300]}
                continue
            entry = {"version": json.loads((tmp / "result.json").read_text())["version"], "resolvers": {}}
            for resolver in RESOLVERS:
                a, b = np.load(tmp / f"ours_{resolver}.npy"), np.load(tmp / f"theirs_{resolver}.npy")
                entry["resolvers"][resolver] = {
                    "max_rel_diff_vs_onnx2tf": float(np.abs(a - b).max() / np.abs(b).max()),
                    "max_rel_diff_vs_torch": float(np.abs(a - torch_logits).max() / np.abs(torch_logits).max()),
                    "onnx2tf_max_rel_diff_vs_torch": float(np.abs(b - torch_logits).max() / np.abs(torch_logits).max()),
                    "argmax_agreement": float((a.argmax(1) == b.argmax(1)).mean() * 100),
                    "top1_ours": float((a.argmax(1) == y).mean() * 100),
                    "top1_theirs": float((b.argmax(1) == y).mean() * 100)}
            row["interpreters"][interpreter] = entry
    return row


def markdown(rows: list[dict]) -> str:
    lines = [BEGIN, "## Float cross-check: our float32 export vs onnx2tf's float TFLite", "",
             "Our writer's `--bits fp32` graph (capture -> float lowering -> our TFLite writer) against onnx2tf's "
             "float32 TFLite of the same checkpoint (torch.onnx with a dynamic batch axis -> onnx2tf), both under the "
             "same interpreter and resolver, batch 1. `rel diff` = max |ours - theirs| / max |theirs| over all logits "
             "(acceptance: <= 1e-4); `vs torch` = the same against torch's float forward. Bench: "
             "`bench/bench_float_check.py`.", "",
             "| model | checkpoint | images | interpreter | resolver | rel diff vs onnx2tf | ours vs torch | onnx2tf vs torch "
             "| argmax agreement % | top-1 ours / theirs | size ours / theirs (KiB) |",
             "|---|---|---:|---|---|---:|---:|---:|---:|---|---|"]
    for row in rows:
        for interp, entry in row["interpreters"].items():
            if "error" in entry:
                lines.append(f"| {row['model']} | `{row['weights_sha256'][:16]}` | {row['samples']} | {interp} | - | "
                             f"error: {entry['error']} | | | | | |")
                continue
            for resolver, r in entry["resolvers"].items():
                lines.append(
                    f"| {row['model']} | `{row['weights_sha256'][:16]}` | {row['samples']} | {interp} {entry['version']} | "
                    f"{resolver} | {r['max_rel_diff_vs_onnx2tf']:.1e} | {r['max_rel_diff_vs_torch']:.1e} | "
                    f"{r['onnx2tf_max_rel_diff_vs_torch']:.1e} | {r['argmax_agreement']:.2f} | "
                    f"{r['top1_ours']:.2f} / {r['top1_theirs']:.2f} | {row['ours']['size_bytes'] / 1024:.0f} / "
                    f"{row['theirs']['size_bytes'] / 1024:.0f} |")
    dates = sorted({(r["date"], r["cpu"]) for r in rows})
    lines += ["", "Measured " + "; ".join(f"{d} on {c}" for d, c in dates) + "; onnx2tf "
              + ", ".join(sorted({r["theirs"]["onnx2tf"] for r in rows})) + ".", END]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--onnx2tf-worker"]:
        onnx2tf_worker(*argv[1:3])
        return 0
    if argv[:1] == ["--run-worker"]:
        run_worker(*argv[1:3])
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="fmnist-r18,fmnist-mbv2")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--no-doc", action="store_true")
    args = p.parse_args(argv)
    results = Path(args.results)
    rows = {r["model"]: r for r in (json.loads(results.read_text())["rows"] if results.exists() else [])}
    for ref in [m for m in args.models.split(",") if m]:
        rows[ref] = measure(ref, args)
        print(json.dumps({k: v for k, v in rows[ref].items() if k == "interpreters"})[:2000], flush=True)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps({"rows": list(rows.values())}, indent=1) + "\n")
    if not args.no_doc:
        write_doc(markdown(list(rows.values())), BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
