"""Packed-size honesty and the 4-bit-weight peer: our W4A8 / W4A4 graphs against Google's AI Edge
Quantizer (AEQ) INT4-weight / int8-activation static recipe, on the same checkpoints.

Two parts (`--part peer,sizes`):

- peer (FMNIST-R18, FMNIST-MBV2): the same FP model goes two ways.
  ours: `calibrate --bits w4a8|w4a4 --symmetric-weights` (RTN, and QDrop at the fast preset for
  the settings `--qdrop` names) on the 1024 seeded Fashion-MNIST train images, written as int8
  containers and with `--int4-weights`;
  theirs: our float32 export (`export --bits fp32`, plus a "serving_default" signature, which AEQ
  needs to calibrate) -> AEQ `Quantizer` with a static config of 8-bit activations, 8-bit weights
  for every supported op and 4-bit weights for CONV_2D and FULLY_CONNECTED (the ops AEQ's policy
  gives `static_wi4_ai8`), calibrated on the same 1024 images (NHWC).
  AEQ does not install with our pins (every release pins an ai-edge-litert other than our 2.1.0;
  0.5.0 pulls ai-edge-litert-nightly, which overwrites the ai_edge_litert package), so it runs in
  its own virtual environment (`--peer-python`, e.g. /tmp/aeq-venv/bin/python after
  `python -m venv /tmp/aeq-venv && /tmp/aeq-venv/bin/pip install ai-edge-quantizer==0.10.0`);
  everything is measured in ours.
  Measured: sizes (export/sizes.py: as written, int8 containers, packed, gzip -9 of each), top-1 on
  the test images under one interpreter and resolver for every file, and single-thread batch-1
  latency with XNNPACK on (AUTO) and off (BUILTIN_WITHOUT_DEFAULT_DELEGATES), medians of
  interleaved rounds (bench_peer.run_interpreter).
- sizes (R18, MBV2, MBV3S, EffB0): our exports at W8A8, W4A4, W4A4 symmetric and W2A4 (RTN, same
  calibration): bytes and gzip bytes as int8 containers, with INT4 weights, with INT4 + INT2.
- entropy: information per INT4 code of the packed files of earlier peer rows (rebuilt from the
  caches, checked by sha256); new peer rows record it as they are measured.
Without a part (`--part none`) the section is written again from the results file.

    python bench/bench_peer_int4.py --peer-python /tmp/aeq-venv/bin/python [--part peer,sizes,entropy]
        [--models ...] [--size-models ...] [--qdrop w4a8,w4a4] [--eval-samples N] [--no-doc]
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

from bench_common import ARCH, BENCH, cpu_name, write_doc

RESULTS = BENCH / "results" / "peer_int4.json"
CACHE = Path.home() / ".cache" / "catdeploy" / "bench" / "peer_int4"
BEGIN, END = "<!-- peer-int4:begin -->", "<!-- peer-int4:end -->"
SIZE_SETTINGS = (("w8a8", False), ("w4a4", False), ("w4a4", True), ("w2a4", False))


# ----------------------------------------------------------------------------------------------
# theirs: AI Edge Quantizer, in its own virtual environment

def aeq_worker(float_path: str, calib_path: str, out_path: str) -> None:
    """In the peer's environment: AEQ static recipe, 8-bit activations, INT4 CONV_2D / FC weights."""
    import importlib.metadata as md

    import numpy as np
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.utils import tfl_interpreter_utils

    op = qtyping.TFLOperationName
    qt = quantizer.Quantizer(float_path)
    qt.add_static_config(regex=".*", operation_name=op.ALL_SUPPORTED, activation_num_bits=8, weight_num_bits=8)
    for name in (op.CONV_2D, op.FULLY_CONNECTED):
        qt.add_static_config(regex=".*", operation_name=name, activation_num_bits=8, weight_num_bits=4)
    calib = np.load(calib_path)
    data = {tfl_interpreter_utils.DEFAULT_SIGNATURE_KEY: [{"x": calib[i:i + 1]} for i in range(len(calib))]}
    t0 = time.perf_counter()
    result = qt.quantize(qt.calibrate(data))
    seconds = time.perf_counter() - t0
    Path(out_path).write_bytes(bytes(result.quantized_model))
    Path(out_path + ".json").write_text(json.dumps({
        "quantize_s": seconds, "ai-edge-quantizer": md.version("ai-edge-quantizer"),
        "ai-edge-litert": md.version("ai-edge-litert"), "numpy": np.__version__,
        "recipe": json.loads(json.dumps(qt.get_quantization_recipe(), default=str))}))


def with_signature(model_bytes: bytes) -> bytes:
    """Our float32 export with a "serving_default" signature (input "x", output "logits"): AEQ's
    calibration looks the model up by signature; nothing else changes."""
    import flatbuffers

    from catdeploy.export.tflite.schema import schema
    from catdeploy.export.tflite.writer import FILE_IDENTIFIER, _AlignedBufferT

    fb = schema()
    model = fb.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    sg = model.subgraphs[0]
    sig = fb.SignatureDefT()
    sig.inputs, sig.outputs = [fb.TensorMapT()], [fb.TensorMapT()]
    sig.inputs[0].name, sig.inputs[0].tensorIndex = "x", int(sg.inputs[0])
    sig.outputs[0].name, sig.outputs[0].tensorIndex = "logits", int(sg.outputs[0])
    sig.signatureKey, sig.subgraphIndex = "serving_default", 0
    model.signatureDefs = [sig]
    model.buffers = [_AlignedBufferT(bytes(b.data)) if b.data is not None and len(b.data) else b
                     for b in model.buffers]
    builder = flatbuffers.Builder(len(model_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def peer_model(ref: str, float_bytes: bytes, calib_nhwc, sha: str, peer_python: str) -> tuple[bytes, dict]:
    """AEQ's W4A8 .tflite of the float model (cached by checkpoint sha256 and calibration set)."""
    import numpy as np

    key = hashlib.sha256(sha.encode() + calib_nhwc.tobytes() + b"aeq-static-w4a8").hexdigest()[:16]
    out = CACHE / f"{ref}_aeq_{key}.tflite"
    if not out.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            float_path, calib_path = Path(tmp) / "float32.tflite", Path(tmp) / "calib.npy"
            float_path.write_bytes(with_signature(float_bytes))
            np.save(calib_path, np.ascontiguousarray(calib_nhwc, np.float32))
            proc = subprocess.run([peer_python, __file__, "--aeq-worker", str(float_path), str(calib_path),
                                   str(Path(tmp) / "aeq.tflite")], capture_output=True, text=True, cwd=tmp)
            if proc.returncode != 0:
                raise RuntimeError(f"AEQ failed: {proc.stderr[-3000:]}")
            (Path(tmp) / "aeq.tflite").replace(out)
            Path(tmp, "aeq.tflite.json").replace(out.with_name(out.name + ".json"))
    return out.read_bytes(), json.loads(out.with_name(out.name + ".json").read_text())


# ----------------------------------------------------------------------------------------------
# ours

def our_qg(ref: str, weights: Path, sha: str, bits: str, symmetric: bool, method: str, samples: int):
    """Our calibrated QuantizedGraph (cached as .qg by checkpoint, bits, grid, method, samples)."""
    from catdeploy.pipeline import calibrate_model
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.quant.quantized_graph import load_quantized_graph, save_quantized_graph

    tag = f"{ref}_{sha[:16]}_{bits}_{'sym' if symmetric else 'asym'}_{method}_{samples}"
    path = CACHE / f"{tag}.qg"
    if path.is_file():
        return load_quantized_graph(path), None
    t0 = time.perf_counter()
    options = CalibrationOptions(bits=bits, samples=samples, symmetric_weights=symmetric, method=method,
                                 preset="fast")
    qg = calibrate_model(ARCH[ref], str(weights), "fashion-mnist", options)
    seconds = time.perf_counter() - t0
    CACHE.mkdir(parents=True, exist_ok=True)
    save_quantized_graph(qg, path)
    return qg, seconds


def our_files(qg) -> dict[str, tuple[bytes, dict]]:
    """int8-container and --int4-weights files of `qg`, with their sizes (export/sizes.py)."""
    from catdeploy.export.manifest import planned_bits
    from catdeploy.export.sizes import tflite_sizes
    from catdeploy.integer import lowered
    from catdeploy.lower.options import LoweringOptions

    out = {}
    for name, lowering in (("int8", LoweringOptions()), ("int4", LoweringOptions(int4_weights=True))):
        program, data = lowered(qg, lowering)
        out[name] = (data, tflite_sizes(data, planned_bits(program)))
    return out


def int4_code_entropy(model_bytes: bytes) -> dict | None:
    """Bits of information per code and the share of codes in {-1, 0, 1}, over the filters the file
    stores as INT4 (what gzip can still squeeze out of a packed file); None without INT4 filters."""
    import numpy as np

    from catdeploy.export.sizes import filter_codes

    codes = [c for dtype, c in filter_codes(model_bytes).values() if dtype == "int4"]
    if not codes:
        return None
    c = np.concatenate(codes)
    counts = np.unique(c, return_counts=True)[1]
    p = counts / counts.sum()
    return {"bits_per_code": float(-(p * np.log2(p)).sum()), "share_within_1": float((np.abs(c) <= 1).mean()),
            "codes": int(c.size)}


# ----------------------------------------------------------------------------------------------

def measure_peer(ref: str, args) -> dict:
    import numpy as np
    import torch

    from bench_peer import run_interpreter
    from catdeploy import api
    from catdeploy.export.sizes import tflite_sizes
    from catdeploy.lower.float_program import lower_float
    from catdeploy.pipeline import calibration_data, eval_images
    from catdeploy.train import reference_checkpoint

    torch.set_num_threads(args.threads)
    weights = reference_checkpoint(ref, train_if_missing=False)
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    model, _ = api.load_float_model(ARCH[ref], weights)
    float_bytes = api.export_tflite(lower_float(api.capture(model, 32, 3)))
    calib = calibration_data("fashion-mnist", args.samples, 0)[0]
    theirs, peer_info = peer_model(ref, float_bytes, calib.transpose(0, 2, 3, 1), sha, args.peer_python)
    files = {"aeq_w4a8": theirs}
    sizes = {"aeq_w4a8": tflite_sizes(theirs)}
    calib_s = {}
    settings = [("w4a8", "rtn"), ("w4a4", "rtn")] + [(bits, "qdrop") for bits in filter(None, args.qdrop.split(","))]
    for bits, method in settings:
        qg, seconds = our_qg(ref, weights, sha, bits, True, method, args.samples)
        calib_s[f"{bits}_{method}"] = seconds
        for layout, (data, size) in our_files(qg).items():
            files[f"ours_{bits}_{method}_{layout}"] = data
            sizes[f"ours_{bits}_{method}_{layout}"] = size
    entropy = {n: int4_code_entropy(d) for n, d in files.items()}
    x, y = eval_images("fashion-mnist", args.eval_samples)
    with torch.no_grad():
        fp_top1 = float((torch.cat([model(torch.from_numpy(x[i:i + 500])) for i in range(0, len(x), 500)])
                         .argmax(1).numpy() == y).mean() * 100)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    per_interpreter = {}
    for interpreter in args.interpreters.split(","):
        r = run_interpreter(interpreter, files, x_nhwc, args)
        per_interpreter[interpreter] = {
            "version": r["version"], "latency": r["latency"], "failures": r["failures"],
            "top1": {n: float((np.asarray(m["argmax"]) == y).mean() * 100) for n, m in r["models"].items()},
            "ops": {n: m["ops"] for n, m in r["models"].items()},
            "op_kinds": {n: m.get("op_kinds", {}) for n, m in r["models"].items()}}
    return {"model": ref, "arch": ARCH[ref], "weights_sha256": sha, "fp_top1": fp_top1,
            "calibration_images": args.samples, "eval_images": int(len(y)), "sizes": sizes,
            "sha256": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}, "int4_codes": entropy,
            "peer": peer_info, "ours_calibrate_s": calib_s, "interpreters": per_interpreter,
            "threads": args.threads, "load_average": os.getloadavg(), "date": time.strftime("%Y-%m-%d")}


def add_entropy(row: dict, args) -> None:
    """int4_codes of a peer row measured before they were recorded: the same files rebuilt from
    the caches (checked by sha256)."""
    from catdeploy import api
    from catdeploy.lower.float_program import lower_float
    from catdeploy.pipeline import calibration_data
    from catdeploy.train import reference_checkpoint

    ref = row["model"]
    weights = reference_checkpoint(ref, train_if_missing=False)
    model, _ = api.load_float_model(ARCH[ref], weights)
    float_bytes = api.export_tflite(lower_float(api.capture(model, 32, 3)))
    calib = calibration_data("fashion-mnist", row["calibration_images"], 0)[0]
    files = {"aeq_w4a8": peer_model(ref, float_bytes, calib.transpose(0, 2, 3, 1), row["weights_sha256"],
                                    args.peer_python)[0]}
    for name in row["sha256"]:
        if name.startswith("ours_") and name.endswith("_int4"):
            _, bits, method, _ = name.split("_")
            qg, _ = our_qg(ref, weights, row["weights_sha256"], bits, True, method, row["calibration_images"])
            files[name] = our_files(qg)["int4"][0]
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != row["sha256"][name]:
            raise RuntimeError(f"{ref} {name}: rebuilt file differs from the measured one")
    row["int4_codes"] = {n: int4_code_entropy(d) for n, d in files.items()}


def measure_sizes(ref: str, args) -> dict:
    import torch

    from catdeploy.train import reference_checkpoint

    torch.set_num_threads(args.threads)
    weights = reference_checkpoint(ref, train_if_missing=False)
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    rows = {}
    for bits, symmetric in SIZE_SETTINGS:
        qg, seconds = our_qg(ref, weights, sha, bits, symmetric, "rtn", args.samples)
        data, sizes = our_files(qg)["int8"]
        rows[f"{bits}{'_sym' if symmetric else ''}"] = {"sizes": sizes, "calibrate_s": seconds,
                                                        "sha256": hashlib.sha256(data).hexdigest()}
    return {"model": ref, "arch": ARCH[ref], "weights_sha256": sha, "calibration_images": args.samples,
            "settings": rows, "date": time.strftime("%Y-%m-%d")}


# ----------------------------------------------------------------------------------------------

def _label(name: str) -> tuple[str, str]:
    """(who, how the weights are stored) of a file name of measure_peer."""
    if name == "aeq_w4a8":
        return "AEQ static W4A8", "INT4 as written"
    _, bits, method, layout = name.split("_")
    return (f"ours {bits.upper()} {'RTN' if method == 'rtn' else 'QDrop fast'}",
            "int8 containers" if layout == "int8" else "`--int4-weights`")


def reading(rows: list[dict], interp: str) -> list[str]:
    """What the peer table says, model by model, from the measured numbers."""
    out = ["Reading the table:", ""]
    for r in rows:
        m, size = r["interpreters"][interp], r["sizes"]
        aeq, packed, plain = "aeq_w4a8", "ours_w4a8_rtn_int4", "ours_w4a8_rtn_int8"
        if not {aeq, packed, plain} <= set(size) or not {aeq, packed, plain} <= set(m["top1"]):
            continue

        def ms(name, resolver):
            return m["latency"].get(resolver, {}).get(name, {}).get("median_ms", float("nan"))

        ours_top1 = ", ".join(f"{_label(n)[0].removeprefix('ours ')} {t:.2f}" for n, t in m["top1"].items()
                              if n.startswith("ours_") and n.endswith("_int8"))
        text = (f"- {r['model']}: AEQ's file {size[aeq]['as_written']['bytes']:,} B (gzip "
                f"{size[aeq]['as_written']['gzip_bytes']:,}); ours W4A8 packed "
                f"{size[packed]['as_written']['bytes']:,} B "
                f"(gzip {size[packed]['as_written']['gzip_bytes']:,}), in int8 containers "
                f"{size[plain]['as_written']['bytes']:,} B (gzip {size[plain]['as_written']['gzip_bytes']:,}). "
                f"Top-1: AEQ {m['top1'][aeq]:.2f}, ours {ours_top1} (FP {r['fp_top1']:.2f}). Median ms with "
                f"XNNPACK on / off: AEQ {ms(aeq, 'auto'):.2f} / {ms(aeq, 'nodelegate'):.2f}, ours int8 containers "
                f"{ms(plain, 'auto'):.2f} / {ms(plain, 'nodelegate'):.2f}, ours packed {ms(packed, 'auto'):.2f} / "
                f"{ms(packed, 'nodelegate'):.2f}.")
        codes = r.get("int4_codes", {})
        if codes.get(aeq) and codes.get(packed):
            text += (f" Information per 4-bit code: AEQ {codes[aeq]['bits_per_code']:.2f} bits "
                     f"({codes[aeq]['share_within_1'] * 100:.0f} % of codes in {{-1, 0, 1}}), ours "
                     f"{codes[packed]['bits_per_code']:.2f} bits ({codes[packed]['share_within_1'] * 100:.0f} %).")
        out.append(text)
    ratios = [f"{r['model']} {s['as_written']['bytes'] / p['as_written']['bytes']:.2f}x raw, "
              f"{s['as_written']['gzip_bytes'] / p['as_written']['gzip_bytes']:.2f}x gzipped"
              for r in rows for s, p in [(r["sizes"].get("ours_w4a8_rtn_int8"), r["sizes"].get("ours_w4a8_rtn_int4"))]
              if s and p]
    out += ["", "- Packed INT4 almost halves the file on disk, but gzip of the int8-container file already "
            "removes most of the unused high bits, so an over-the-air update gains much less (int8 containers "
            "over packed, ours W4A8: " + "; ".join(ratios) + ").",
            "- Packed INT4 files are slower, not faster, in LiteRT on x86: the built-in CONV_2D / "
            "DEPTHWISE_CONV_2D kernels unpack the whole filter to int8 on every invoke and XNNPACK leaves "
            "INT4 convolutions to them (docs/PROFILES.md); the int8-container file is the one XNNPACK runs "
            "whole. That holds for AEQ's file and ours alike.",
            "- AEQ's min/max ranges put most codes near zero (fewer bits of information per code), so its "
            "packed file compresses further than ours, whose Lp-searched ranges clip outliers and use more "
            "of the grid.", ""]
    return out


def markdown(peer_rows: list[dict], size_rows: list[dict], notes: dict) -> str:
    import platform

    from catdeploy.export.manifest import versions

    v = versions()
    lines = [BEGIN, "## Packed sizes and the 4-bit-weight peer: AI Edge Quantizer (issue 25 item 4)", ""]
    lines += [notes["install"], ""]
    if peer_rows:
        first = peer_rows[0]
        peer = first["peer"]
        interp = next(iter(first["interpreters"]))
        m0 = first["interpreters"][interp]
        lines += [
            f"Measured {first['date']} on {cpu_name()} ({platform.machine()}), one interpreter thread, python "
            f"{v.get('python')}, torch {v.get('torch')}, numpy {v.get('numpy')}, "
            f"{'ai-edge-litert' if interp == 'litert' else interp} {m0['version']} "
            f"(every file measured under it); the peer: ai-edge-quantizer {peer['ai-edge-quantizer']} with "
            f"ai-edge-litert {peer['ai-edge-litert']} and numpy {peer['numpy']} in its own venv (quantization "
            f"only). Checkpoints: " + ", ".join(f"{r['model']} `{r['weights_sha256'][:16]}`" for r in peer_rows)
            + f". Calibration: the same {first['calibration_images']} seeded Fashion-MNIST train images for "
            f"both; top-1 on the first {first['eval_images']} test images, batch 1, resolver nodelegate (the "
            f"packed and int8-container files of one calibration compute the same integers, so their top-1 "
            f"is the same); latency: batch 1, single thread, medians over {notes['latency_runs']} invokes in "
            f"interleaved rounds (all files of a model alternate). Load average during the run: "
            + ", ".join(f"{r['model']} {r['load_average'][0]:.1f}" for r in peer_rows)
            + " on 2 cores shared with other work: absolute milliseconds are indicative, ratios within a "
            "model are interleaved.", "",
            "Conventions. Ours: `--symmetric-weights` (a packable 4-bit grid [-7, 7]), per-channel weights, "
            "per-tensor asymmetric activations, first conv and last FC weights 8 bit, FC input 8 bit, the "
            "residual stream and the logits 8 bit, depthwise weights 4 bit; Lp ranges; W4A4 = 4-bit "
            "activations in int8 containers. AEQ: symmetric per-channel INT4 weights on every CONV_2D and "
            "FULLY_CONNECTED (first conv and classifier included), int8 DEPTHWISE_CONV_2D weights (its "
            "policy has no 4-bit static depthwise), int8 per-tensor asymmetric activations, min/max "
            "calibration, int8 input and output; it writes op version 1 for every op.", "",
            "| model | FP top-1 | file | weights | bytes as written | int8 containers | packed INT4 | gzip as written "
            "| gzip packed | INT4 / int8 filter elements | top-1 | ms XNNPACK on | ms XNNPACK off |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in peer_rows:
            m = r["interpreters"][interp]
            for name, size in r["sizes"].items():
                who, how = _label(name)
                lay = size["layouts"]
                el = lay["int4"]["filter_elements"]
                top1 = f"{m['top1'][name]:.2f}" if name in m["top1"] else "fails"
                lat = [f"{m['latency'][res][name]['median_ms']:.2f}" if name in m["latency"].get(res, {}) else "fails"
                       for res in ("auto", "nodelegate")]
                lines.append(
                    f"| {r['model']} | {r['fp_top1']:.2f} | {who} | {how} | {size['as_written']['bytes']:,} | "
                    f"{lay['int8']['bytes']:,} | {lay['int4']['bytes']:,} | {size['as_written']['gzip_bytes']:,} | "
                    f"{lay['int4']['gzip_bytes']:,} | {el['int4']:,} / {el['int8']:,} | {top1} | {lat[0]} | {lat[1]} |")
        failures = [f"- {r['model']} {name} {interp} `{res}`: {why}" for r in peer_rows
                    for interp, m in r["interpreters"].items() for name, reasons in m["failures"].items()
                    for res, why in reasons.items()]
        if failures:
            lines += ["", "Files an interpreter could not prepare or run:", *failures]
        lines += ["", "Cost: " + "; ".join(
            f"{r['model']}: AEQ calibrate + quantize {r['peer']['quantize_s']:.1f} s, ours "
            + ", ".join(f"{k} {v:.0f} s" if v else f"{k} cached" for k, v in r["ours_calibrate_s"].items())
            for r in peer_rows) + " (2 shared cores).", ""]
        lines += reading(peer_rows, interp)
    if size_rows:
        lines += ["", "### Our exports in each layout (bytes / gzip -9 bytes)", "",
                  f"Measured {size_rows[0]['date']}, RTN on {size_rows[0]['calibration_images']} seeded train "
                  f"images, convention default (asymmetric per-channel weights unless `sym`; first conv and last "
                  f"FC 8 bit). int8 = what `export` writes; INT4 = `--int4-weights` (filters whose codes fit "
                  f"[-8, 7]; asymmetric 4-bit codes q - z mostly do not); INT4 + INT2 = also `--int2-weights` "
                  f"(2-bit FULLY_CONNECTED only: none here, the FC is 8 bit by convention). gzip: level 9, "
                  f"mtime 0. Which interpreters load each layout: docs/PROFILES.md (INT4: ai-edge-litert 2.1 "
                  f"and TF 2.19, not tflite-runtime 2.14's INT4 FULLY_CONNECTED; INT2: ai-edge-litert 2.1 only).",
                  "", "| model | checkpoint | setting | int8 | gzip | INT4 | gzip | INT4 + INT2 | gzip | "
                  "<= 4-bit filter elements left int8 |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in size_rows:
            for setting, row in r["settings"].items():
                lay = row["sizes"]["layouts"]
                lines.append(f"| {r['model']} | `{r['weights_sha256'][:16]}` | {setting} | "
                             + " | ".join(f"{lay[k]['bytes']:,} | {lay[k]['gzip_bytes']:,}" for k in
                                          ("int8", "int4", "int4_int2"))
                             + f" | {lay['int4']['low_bit_filter_elements_int8']:,} |")
    lines += ["", "Bench: `bench/bench_peer_int4.py`; sizes: `catdeploy/export/sizes.py` (also in every "
              "export manifest and in `catdeploy inspect`).", END]
    return "\n".join(lines)


INSTALL_NOTE = (
    "AI Edge Quantizer does not install with our pins: `pip install -c constraints.txt ai-edge-quantizer` "
    "resolves to 0.5.0, the only release without an exact ai-edge-litert pin, which pulls "
    "ai-edge-litert-nightly (2.4.0.dev) — a second distribution of the same `ai_edge_litert` package that "
    "would overwrite our pinned ai-edge-litert 2.1.0 files; every later release pins another LiteRT "
    "(0.5.1: 2.1.2, 0.6.0: 2.1.4, 0.7.0: 2.1.5, 0.8.0: 2.1.6, 0.9.0: 2.2.0, 0.10.0: 2.3.0; pip: \"Cannot "
    "install ai-edge-quantizer==0.10.0 ... ai-edge-quantizer 0.10.0 depends on ai-edge-litert==2.3.0, "
    "The user requested (constraint) ai-edge-litert==2.1.0\"). So the peer ran from a throwaway venv "
    "(ai-edge-quantizer 0.10.0, ai-edge-litert 2.3.0, numpy 2.x) that only quantizes; its output was "
    "measured in ours.")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--aeq-worker"]:
        aeq_worker(*argv[1:4])
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", default="peer,sizes")
    p.add_argument("--models", default="fmnist-r18,fmnist-mbv2")
    p.add_argument("--size-models", default="fmnist-r18,fmnist-mbv2,fmnist-mbv3s,fmnist-effb0")
    p.add_argument("--peer-python", default="/tmp/aeq-venv/bin/python")
    p.add_argument("--interpreters", default="litert")
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--eval-samples", type=int, default=10000)
    p.add_argument("--qdrop", default="", help="also QDrop at the fast preset at these bit settings (w4a8,w4a4)")
    p.add_argument("--accuracy-resolver", default="nodelegate")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--per-round", type=int, default=20)
    p.add_argument("--threads", type=int, default=2, help="torch threads for calibration")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--no-doc", action="store_true")
    args = p.parse_args(argv)
    parts = set(args.part.split(","))
    results = json.loads(Path(args.results).read_text()) if Path(args.results).is_file() else {}
    if "peer" in parts:
        results["peer"] = [measure_peer(ref, args) for ref in args.models.split(",")]
        results["latency_runs"] = args.rounds * args.per_round
        Path(args.results).write_text(json.dumps(results, indent=1))
    if "entropy" in parts:
        for row in results.get("peer", []):
            if "int4_codes" not in row:
                add_entropy(row, args)
        Path(args.results).write_text(json.dumps(results, indent=1))
    if "sizes" in parts:
        results["sizes"] = [measure_sizes(ref, args) for ref in args.size_models.split(",")]
        Path(args.results).write_text(json.dumps(results, indent=1))
    text = markdown(results.get("peer", []), results.get("sizes", []),
                    {"install": INSTALL_NOTE, "latency_runs": results.get("latency_runs", 0)})
    print(text)
    if not args.no_doc:
        write_doc(text, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
