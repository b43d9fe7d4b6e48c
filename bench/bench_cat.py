"""CAT ablation on the reference models: none / K = 1 / CAT (selected K) / affine-layers / both.

For each model and bit setting, on ONE base (default: RTN, Lp-searched ranges, 1024 seeded train
images; --base-method pdquant --base-preset fast: that reconstruction, reusing the .qg that
bench_recon.py kept for the same row when there is one; own results file and doc section):
  - K = 1:   CAT with --clusters 1 (alpha selected on held-out)
  - CAT:     CAT with K, alpha and PCA selected on held-out (the default --cat)
  - affine:  --affine-layers (strength selected on held-out)
  - both:    --affine-layers then --cat
Held-out = 256 of the 1024 calibration images (never used in the fit; selection only). Test =
fashion-mnist test split (10 000 images), integer top-1 computed by catrt on the exported
programs (classifier-only programs fed the network's int8 features, the same ops and constants as
the exported graph). Also: float-applied CAT on the same base (z' = A_k q + B_k on the integer
logits, float nearest centroid), float vs integer cluster assignment agreement on the test set,
the head's share of file size and of tflite-runtime latency (default resolver, 1 thread, batch
1), and verify of the "both" export (every tensor, BUILTIN_REF, 3 interpreters).

    .venv/bin/python bench/bench_cat.py [--models fmnist-r18,fmnist-mbv2] [--bits w2a2,w4a2,w2a4,w4a4]
        [--results bench/results/cat.json] [--merge a.json,b.json] [--no-doc]
        [--cat-only | --verify-only | --latency-only | --float-check] [--base-method M --base-preset P]
"""
from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench_common import ARCH, BENCH, bench_env, common_arguments, load_rows, write_doc, write_results

RESULTS = BENCH / "results" / "cat.json"
BEGIN, END = "<!-- cat:begin -->", "<!-- cat:end -->"
BITS_ORDER = ["w8a8", "w4a4", "w2a4", "w4a2", "w2a2"]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tflite_latency_ms(models: dict[str, bytes], x_int8: np.ndarray, runs: int) -> dict[str, float]:
    """Median tflite-runtime invoke time per model, default resolver, 1 thread, batch 1. The models
    are invoked in turn (interleaved) so that load from other processes affects them alike."""
    from tflite_runtime.interpreter import Interpreter

    its = {}
    for key, model in models.items():
        it = Interpreter(model_content=model, num_threads=1)
        it.allocate_tensors()
        its[key] = it
    times: dict[str, list] = {k: [] for k in models}
    for i in range(runs + 10):
        for key, it in its.items():
            it.set_tensor(it.get_input_details()[0]["index"], x_int8[i % len(x_int8)][None])
            t0 = time.perf_counter()
            it.invoke()
            if i >= 10:
                times[key].append(time.perf_counter() - t0)
    return {k: float(np.median(v) * 1000) for k, v in times.items()}


def remeasure_latency(rows: dict, args, x_test) -> None:
    """Re-time the none / CAT exports of every ablation row from bench/out (interleaved)."""
    from catdeploy.integer import prepare_inputs

    for (ref, bits), row in rows.items():
        if "test_top1" not in row:
            continue
        out_dir = Path(args.out_dir)
        models = {k: (out_dir / f"{ref}_{bits}_{k}.tflite").read_bytes() for k in ("none", "cat")}
        lat = tflite_latency_ms(models, prepare_inputs(models["none"], x_test[:64]), args.latency_runs)
        row["latency_ms"] = lat
        row["cat_latency_share"] = (lat["cat"] - lat["none"]) / lat["cat"]


def test_logits(qg, variants: dict, x_test: np.ndarray) -> tuple[dict, dict]:
    """Integer test logits of every variant sharing qg's backbone, and the int cluster per variant."""
    from catrt import Interpreter

    from catdeploy.integer import catrt_tensors, classifier_bytes, dequantize, output_qparams, program_bytes
    from catdeploy.lower import classifier_node

    node = classifier_node(qg.graph)
    x_name = qg.plan.node_inputs[node.name][0]
    feats = catrt_tensors(program_bytes(replace(qg, cat=None)), x_test, [x_name])[x_name]
    logits, clusters = {}, {}
    for key, v in variants.items():
        head = classifier_bytes(v)
        rt = Interpreter(head)
        vals = rt.run([feats], keep_all=True)
        out = rt.get_output_details()[0].name
        logits[key] = dequantize(vals[out], *output_qparams(head))
        if v.cat is not None and int(v.cat["clusters"]) > 1:
            clusters[key] = vals[f"{node.name}/cat_cluster"]
    logits["base/exact"] = classifier_exact_output(qg, feats)
    return logits, clusters


def classifier_exact_output(qg, feats: np.ndarray) -> np.ndarray:
    """Real output of the base classifier before its output rounding, s_x s_w[c] (acc + bias), from
    catrt's accumulators of the classifier-only program."""
    from catrt import Interpreter

    from catdeploy.integer import classifier_bytes
    from catdeploy.lower import classifier_node

    node = classifier_node(qg.graph)
    rt = Interpreter(classifier_bytes(replace(qg, cat=None)))
    acc = rt.accumulators(0, rt.initial_values([feats])).astype(np.float64)
    s_x = np.float64(np.float32(qg.input_qparams(node.name).scale))
    return acc * s_x * qg.weight_qparams[node.name].scale.astype(np.float32).astype(np.float64)


def float_cat_on_exact(params, q: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Float CAT with the integer graph's inputs: cluster from the int8 logits q, affine on y."""
    a, b = params.scale_and_offset()
    k = params.assign(q) if params.clusters > 1 else np.zeros(len(q), np.int64)
    return a[k] * y + b[k]


def float_check(ref: str, bits: str, row: dict, args, x_test, y_test, log) -> None:
    """Re-run RTN + CAT for a stored row (same seeds: the same parameters) and add float-applied
    CAT on the exact classifier output beside the float-on-int8-logits number."""
    from catdeploy import api
    from catdeploy.cat.fit import CatParams
    from catdeploy.cat.options import CatOptions
    from catdeploy.integer import top_k
    from catdeploy.pipeline import calibrate_model, calibration_data
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.train import reference_checkpoint

    weights = reference_checkpoint(ref, train_if_missing=False)
    base = calibrate_model(ARCH[ref], str(weights), "fashion-mnist", CalibrationOptions(bits=bits, samples=args.samples))
    images, labels = calibration_data("fashion-mnist", args.samples, 0)
    cat = api.apply_cat(base, images, labels, CatOptions(enabled=True))
    x_eval, y_eval = x_test[:args.eval_samples], y_test[:args.eval_samples]
    logits, _ = test_logits(base, {"none": base, "cat": cat}, x_eval)
    int_top1 = top_k(logits["cat"], y_eval, 1) * 100
    row["float_check_int_top1"] = int_top1  # must equal test_top1["cat"]
    if cat.cat is not None:
        params = CatParams.from_archive(cat.cat, cat.cat)
        row["cat_float_exact_top1"] = top_k(float_cat_on_exact(params, logits["none"], logits["base/exact"]),
                                                y_eval, 1) * 100
    log(f"{ref} {bits} float check: int {int_top1} (row {row['test_top1']['cat']}), float on int8 logits "
        f"{row['cat_float_top1']}, float on exact output {row.get('cat_float_exact_top1')}")


def reconstruction_base(ref: str, bits: str, args):
    """The .qg bench_recon.py kept for (ref, bits, --base-method, --base-preset, default convention),
    when it exists and was calibrated on the same checkpoint and image count; else None."""
    if args.base_method == "rtn":
        return None
    from bench_recon import base_path

    from catdeploy.pipeline import load_quantized
    from catdeploy.train import reference_checkpoint

    path = base_path(",".join((ref, bits, args.base_method, args.base_preset, "default")))
    if not path.exists():
        return None
    qg = load_quantized(path)
    weights = reference_checkpoint(ref, train_if_missing=False)
    same = (qg.meta.get("calibration_images") == args.samples and qg.meta.get("method") == args.base_method
            and qg.meta.get("preset") == args.base_preset
            and qg.meta.get("weights_sha256", sha256(weights)) == sha256(weights))
    return qg if same else None


def base_label(args) -> str:
    return "RTN" if args.base_method == "rtn" else f"{args.base_method} {args.base_preset} preset"


def run_one(ref: str, bits: str, args, x_test, y_test, log, stored: dict | None = None) -> dict:
    """One ablation row. With `stored` (--cat-only) the K = 1 column is copied from the stored row
    instead of refitted: it has no cluster assignment, so a change to the assignment leaves it
    as it was; everything else (base, CAT, affine, both, exports, latency, verify) is rerun."""
    from catdeploy import api
    from catdeploy.cat.fit import CatParams
    from catdeploy.cat.options import CatOptions
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.check.verify import verify_model
    from catdeploy.demo import float_top1
    from catdeploy.integer import prepare_inputs, program_bytes, top_k
    from catdeploy.pipeline import calibrate_model, calibration_data
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.train import reference_checkpoint

    arch = ARCH[ref]
    weights = reference_checkpoint(ref, train_if_missing=False)
    t0 = time.perf_counter()
    base = reconstruction_base(ref, bits, args)
    if base is None:
        base = calibrate_model(arch, str(weights), "fashion-mnist",
                               CalibrationOptions(bits=bits, samples=args.samples, method=args.base_method,
                                                  preset=args.base_preset))
    images, labels = calibration_data("fashion-mnist", args.samples, 0)
    t_base = time.perf_counter() - t0
    timings = {"rtn_s" if args.base_method == "rtn" else "base_s": round(t_base, 1)}
    k1 = None
    if stored is None:
        t0 = time.perf_counter()
        k1 = api.apply_cat(base, images, labels, CatOptions(enabled=True, clusters=1))
        timings["cat_k1_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    cat = api.apply_cat(base, images, labels, CatOptions(enabled=True))
    timings["cat_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    aff = api.apply_affine_layers(base, images, labels, CatOptions(affine_layers=True))
    timings["affine_s"] = round(time.perf_counter() - t0, 1)
    both = api.apply_cat(aff, images, labels, CatOptions(enabled=True))
    x_eval, y_eval = x_test[:args.eval_samples], y_test[:args.eval_samples]
    lg1, cl1 = test_logits(base, {"none": base, "cat": cat, **({"k1": k1} if k1 is not None else {})}, x_eval)
    lg2, cl2 = test_logits(aff, {"affine": aff, "both": both}, x_eval)
    lg2.pop("base/exact")   # the affine model's; float CAT on the exact output needs the base's
    logits, clusters = {**lg1, **lg2}, {**cl1, **cl2}
    top1 = {k: top_k(logits[k], y_eval, 1) * 100 for k in ("none", "k1", "cat", "affine", "both")
            if k in logits}
    if k1 is None:
        top1["k1"] = stored["test_top1"]["k1"]
        timings["cat_k1_s"] = stored.get("timings", {}).get("cat_k1_s")

    def held(v, key="cat_selection"):
        s = v.meta.get(key, {})
        return s.get("heldout_top1_none"), s.get("heldout_top1", s.get("heldout_top1_none"))

    def choice(v):
        return None if v.cat is None else {"K": int(v.cat["clusters"]), "alpha": float(v.cat["alpha"]),
                                           "pca": v.cat["pca"]}

    row = {"model": ref, "arch": arch, "bits": bits, "weights_sha256": sha256(weights),
           "base": {"method": args.base_method, "preset": None if args.base_method == "rtn" else args.base_preset},
           "fp_top1": float_top1(api.load_float_model(arch, str(weights))[0], x_eval, y_eval) * 100,
           "eval_images": int(len(y_eval)), "calibration_images": args.samples, "test_top1": top1,
           "heldout": {"none": held(cat)[0], "k1": held(k1)[1] if k1 is not None else stored["heldout"]["k1"],
                       "cat": held(cat)[1],
                       "affine": held(aff, "affine_layers")[1], "both": held(both)[1],
                       "held_out_images": cat.meta["cat_selection"]["held_out_images"]},
           "choice": {"k1": choice(k1) if k1 is not None else stored["choice"]["k1"], "cat": choice(cat),
                      "both": choice(both),
                      "affine_strength": aff.meta["affine_layers"]["strength"]},
           "timings": timings}
    # float-applied CAT on the same base and assignment agreement
    for key, v in (("cat", cat), ("both", both)):
        if v.cat is None:
            row[f"{key}_float_top1"] = None
            continue
        params = CatParams.from_archive(v.cat, v.cat)
        q = logits["none"] if key == "cat" else logits["affine"]
        row[f"{key}_float_top1"] = top_k(params.apply(q), y_eval, 1) * 100
        if key == "cat":
            row["cat_float_exact_top1"] = top_k(float_cat_on_exact(params, q, logits["base/exact"]), y_eval, 1) * 100
        if key in clusters:
            row[f"{key}_assignment_agreement"] = float(np.mean(params.assign(q) == clusters[key])) * 100
    # files, head share, latency, verify
    out_dir = Path(args.out_dir)
    exports = {}
    for key, v in (("none", base), ("cat", cat), ("affine", aff), ("both", both)):
        exports[key] = program_bytes(v)
        (out_dir / f"{ref}_{bits}_{key}.tflite").write_bytes(exports[key])
    row["size_bytes"] = {k: len(b) for k, b in exports.items()}
    row["cat_file_overhead"] = (len(exports["cat"]) - len(exports["none"])) / len(exports["cat"])
    x1 = prepare_inputs(exports["none"], x_test[:64])
    lat = tflite_latency_ms({k: exports[k] for k in ("none", "cat")}, x1, args.latency_runs)
    row["latency_ms"] = lat
    row["cat_latency_share"] = (lat["cat"] - lat["none"]) / lat["cat"]
    xv = x_test[:args.verify_samples]
    reports = verify_model(exports["both"], prepare_inputs(exports["both"], xv), available_interpreters(), ["ref"])
    row["verify_both"] = [{"interpreter": r.interpreter, "version": r.version, "resolver": r.resolver,
                           "profile": r.profile, "images": int(len(xv)), "tensors_compared": r.tensors_compared,
                           "mismatched_elements": r.mismatched_elements, "error": r.error} for r in reports]
    log(f"{ref} {bits}: test {top1} held {row['heldout']} choice {row['choice']} "
        f"float-CAT {row['cat_float_top1']} verify {[(r.interpreter, r.mismatched_elements) for r in reports]}")
    return row


def run_verify_only(ref: str, bits: str, args, x_test, log) -> dict:
    """RTN -> --affine-layers -> --cat (the 'both' export), verify every tensor; held-out numbers only."""
    from catdeploy.cat.options import CatOptions
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.check.verify import verify_model
    from catdeploy.integer import prepare_inputs, program_bytes
    from catdeploy.pipeline import calibrate_model
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.train import reference_checkpoint

    arch = ARCH[ref]
    weights = reference_checkpoint(ref, train_if_missing=False)
    both = calibrate_model(arch, str(weights), "fashion-mnist",
                           CalibrationOptions(bits=bits, samples=args.samples),
                           CatOptions(enabled=True, affine_layers=True))
    model = program_bytes(both)
    (Path(args.out_dir) / f"{ref}_{bits}_both.tflite").write_bytes(model)
    xv = x_test[:args.verify_samples]
    reports = verify_model(model, prepare_inputs(model, xv), available_interpreters(), ["ref"])
    sel, aff = both.meta.get("cat_selection", {}), both.meta["affine_layers"]
    row = {"model": ref, "bits": bits, "weights_sha256": sha256(weights), "size_bytes": len(model),
           "cat": None if both.cat is None else {"K": int(both.cat["clusters"]), "alpha": float(both.cat["alpha"])},
           "affine_strength": aff["strength"], "heldout_none": aff["heldout_top1_none"],
           "heldout_affine": aff["heldout_top1"], "heldout_both": sel.get("heldout_top1", sel.get("heldout_top1_none")),
           "verify_both": [{"interpreter": r.interpreter, "version": r.version, "resolver": r.resolver,
                            "profile": r.profile, "images": int(len(xv)), "tensors_compared": r.tensors_compared,
                            "mismatched_elements": r.mismatched_elements, "error": r.error} for r in reports]}
    log(f"{ref} {bits} verify-only: {row['cat']} affine {row['affine_strength']} "
        f"{[(r.interpreter, r.tensors_compared, r.mismatched_elements) for r in reports]}")
    return row


def verify_markdown(rows: list[dict]) -> str:
    lines = ["", "### Bit-exactness of every export with --affine-layers and --cat", "",
             "Every reference model at every bit setting, calibrated with `--affine-layers --cat` (both selected "
             "on held-out; 'none' = CAT not selected, the graph then has no head), verified on the first 256 test "
             "images, every tensor, BUILTIN_REF. Rows of the ablation above are included with their 'both' export.", "",
             "| model | bits | CAT (K, alpha) | affine strength | tflite-runtime 2.14.0 | ai-edge-litert 2.1.0 | tensorflow 2.19.0 |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        by = {v["interpreter"]: v for v in r["verify_both"]}
        cell = lambda k: "-" if k not in by else (f"{by[k]['tensors_compared']} tensors, "
                                                  f"{by[k]['mismatched_elements'] if not by[k]['error'] else 'ERROR'} mismatched")
        cat = "none" if r["cat"] is None else f"{r['cat']['K']}, {r['cat']['alpha']}"
        lines.append(f"| {r['model']} | {r['bits']} | {cat} | {r['affine_strength']} | {cell('tflite-runtime')} | "
                     f"{cell('litert')} | {cell('tensorflow')} |")
    return "\n".join(lines)


def _f(v, spec=".2f") -> str:
    return "-" if v is None else format(v, spec)


def markers(args) -> tuple[str, str]:
    if args.base_method == "rtn":
        return BEGIN, END
    tag = f"cat-{args.base_method}-{args.base_preset}"
    return f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"


def markdown(all_rows: list[dict], env: dict, base: str = "RTN", marks: tuple[str, str] = (BEGIN, END)) -> str:
    rows = [r for r in all_rows if "test_top1" in r]
    shas = sorted({(r["model"], r["weights_sha256"]) for r in all_rows})
    lines = [marks[0], f"## CAT ablation (integer graphs, {base} base)", "",
             f"Measured {env['date']} on {env['cpu']}, {env['versions']}. Checkpoints (sha256): "
             + "; ".join(f"{m} `{s[:16]}`" for m, s in shas) + ".",
             f"Convention: default (see Integer spine). One {base} base per row (Lp ranges"
             + ("" if base == "RTN" else f", then {base} reconstruction (Reconstruction PTQ section)") + ", 1024 seeded train "
             "images, seed 0). CAT and --affine-layers are fitted on 768 of those images and selected on the "
             "other 256 (held-out; never the test set). Test = all 10 000 Fashion-MNIST test images, integer "
             "top-1 by catrt (= TFLite BUILTIN_REF bit for bit). K = 1: --clusters 1 (alpha selected); CAT: "
             "K, alpha, PCA selected; affine: --affine-layers; both: affine then CAT. A selected 'none' shows "
             "the base number (the fallback). Float CAT 'on int8 logits' applies z' = A_k q + B_k (float nearest centroid) to "
             "the base's int8 logits q, as the paper applies CAT after the network; 'on exact output' takes the cluster from q "
             "and applies A_k y + B_k to the classifier's exact output y before its rounding (what the integer head computes, "
             "less the assignment and output rounding). The held-out numbers are the selection's own scores (optimistic "
             "by construction: the best of up to 61 candidates on 256 images); the test numbers are honest.",
             "",
             "| model | bits | FP | none | K=1 | CAT | affine | both | held-out none / K=1 / CAT / affine / both | CAT choice (K, alpha, PCA) | both choice | float CAT on int8 logits / on exact output | int - float CAT (int8 logits / exact) | assignment agreement |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t, h, c = r["test_top1"], r["heldout"], r["choice"]
        ch = lambda x: "none" if x is None else f"{x['K']}, {x['alpha']}, {x['pca'] or '-'}"
        diff = None if r["cat_float_top1"] is None else t["cat"] - r["cat_float_top1"]
        exact = r.get("cat_float_exact_top1")
        diff_exact = None if exact is None else t["cat"] - exact
        agree = r.get("cat_assignment_agreement")
        lines.append(
            f"| {r['model']} | {r['bits']} | {r['fp_top1']:.2f} | {t['none']:.2f} | {t['k1']:.2f} | {t['cat']:.2f} | "
            f"{t['affine']:.2f} | {t['both']:.2f} | {_f(h['none'])} / {_f(h['k1'])} / {_f(h['cat'])} / "
            f"{_f(h['affine'])} / {_f(h['both'])} | {ch(c['cat'])} | {ch(c['both'])} (affine {c['affine_strength']}) | "
            f"{_f(r['cat_float_top1'])} / {_f(exact)} | {_f(diff, '+.2f')} / {_f(diff_exact, '+.2f')} | {_f(agree)} % |")
    lines += ["", "### CAT head cost and bit-exactness", "",
              "File overhead = (size with CAT - size without) / size with CAT. Latency: tflite-runtime 2.14 "
              "default resolver, 1 thread, batch 1, median of 300 runs, the two models invoked in turn; share = (CAT - none) / CAT. "
              "Verify: the 'both' export (affine-corrected layers + CAT head), every tensor, first 256 test "
              "images, BUILTIN_REF.", "",
              "| model | bits | K | size none / CAT (bytes) | file overhead | latency none / CAT (ms) | latency share | verify (interpreter: tensors, mismatched) |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k = r["choice"]["cat"]["K"] if r["choice"]["cat"] else 0
        v = "; ".join(f"{x['interpreter']} {x['version']}: {x['tensors_compared']}, "
                      f"{x['mismatched_elements'] if not x['error'] else 'ERROR'}" for x in r["verify_both"])
        lines.append(f"| {r['model']} | {r['bits']} | {k} | {r['size_bytes']['none']} / {r['size_bytes']['cat']} | "
                     f"{r['cat_file_overhead'] * 100:.2f} % | {r['latency_ms']['none']:.2f} / {r['latency_ms']['cat']:.2f} | "
                     f"{r['cat_latency_share'] * 100:.1f} % | {v} |")
    vrows = []
    for r in all_rows:
        if "test_top1" in r:
            c = r["choice"]["both"]
            vrows.append({"model": r["model"], "bits": r["bits"], "cat": c and {"K": c["K"], "alpha": c["alpha"]},
                          "affine_strength": r["choice"]["affine_strength"], "verify_both": r["verify_both"]})
        else:
            vrows.append(r)
    lines += [verify_markdown(vrows), "", marks[1]]
    return "\n".join(lines)


def save(rows: dict, results: Path, no_doc: bool, args=None) -> None:
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (list(ARCH).index(k[0]), BITS_ORDER.index(k[1])))]
    env = bench_env()
    write_results(results, env, ordered)
    if not no_doc:
        label, marks = (base_label(args), markers(args)) if args is not None else ("RTN", (BEGIN, END))
        write_doc(markdown(ordered, env, label, marks), *marks)


def main() -> int:
    p = common_arguments(__doc__, "fmnist-r18,fmnist-mbv2", "w2a2,w4a2,w2a4,w4a4", RESULTS)
    p.add_argument("--latency-runs", type=int, default=300)
    p.add_argument("--verify-only", action="store_true", help="Only the --affine-layers --cat export and its verify.")
    p.add_argument("--latency-only", action="store_true", help="Re-time the none/CAT exports of the stored rows.")
    p.add_argument("--float-check", action="store_true", help="Add float CAT on the exact classifier output to stored rows.")
    p.add_argument("--cat-only", action="store_true",
                   help="Rerun stored ablation rows after a change to the CAT head: everything but the K = 1 "
                        "column, which is copied from the stored row.")
    p.add_argument("--base-method", default="rtn", help="Base calibration: rtn (default) or a reconstruction method.")
    p.add_argument("--base-preset", default="fast", help="Preset of a reconstruction base.")
    args = p.parse_args()
    if args.base_method != "rtn" and args.results == str(RESULTS):
        args.results = str(RESULTS.with_name(f"cat_{args.base_method}_{args.base_preset}.json"))
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    import torch

    from catdeploy.pipeline import eval_images

    torch.set_num_threads(1)
    x_test, y_test = eval_images("fashion-mnist:test", None)
    log = lambda m: print(m, file=sys.stderr, flush=True)
    results = Path(args.results)
    rows = load_rows(args)
    if args.latency_only:
        remeasure_latency(rows, args, x_test)
        save(rows, results, args.no_doc, args)
        return 0
    if args.float_check:
        for ref in filter(None, args.models.split(",")):
            for bits in filter(None, args.bits.split(",")):
                if "cat_float_exact_top1" not in rows[(ref, bits)]:
                    float_check(ref, bits, rows[(ref, bits)], args, x_test, y_test, log)
                    save(rows, results, args.no_doc, args)
        return 0
    todo = [(ref, bits) for ref in filter(None, args.models.split(",")) for bits in filter(None, args.bits.split(","))]
    for item in todo or [None]:
        if item is not None:
            stored = rows.get(item) if args.cat_only else None
            if args.cat_only and (stored is None or "test_top1" not in stored):
                raise SystemExit(f"--cat-only: no stored ablation row for {item}")
            rows[item] = (run_verify_only(*item, args, x_test, log) if args.verify_only
                          else run_one(*item, args, x_test, y_test, log, stored))
        save(rows, results, args.no_doc, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
