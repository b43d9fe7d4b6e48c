"""Where an integer graph loses the float model: relative error of every int8 tensor, in graph order.

For a reference checkpoint and a bit setting (RTN, default convention), runs catrt (BUILTIN_REF
arithmetic) on the lowered program with every intermediate kept, dequantizes each per-tensor int8
tensor with its own scale and zero point, and compares it with the float graph's value of the same
name on the same test images:

    rel_err = ||dequant(q) - f||_2 / ||f||_2      (over all images and elements of the tensor)

Printed per tensor with its planned width, scale, zero point and the code and float ranges, and
summarised (first / median / last relative error of the planned sub-8-bit tensors) in
bench/results/error_growth.json. Used to tell a quantization collapse that builds up block after
block from one tensor that breaks alone (docs/ARCHITECTURES.md, "Things found").

    python bench/error_growth.py --model fmnist-effb0 --bits w8a4 [--images 64]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench_common import ARCH, BENCH, cpu_name

RESULTS = BENCH / "results" / "error_growth.json"


def tensor_errors(qg, x: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """[{name, bits, rel_err, scale, zero_point, q_min, q_max, f_min, f_max}] in op order, and the int8 logits."""
    from catrt.interpreter import Interpreter

    from catdeploy.integer import prepare_inputs, program_bytes
    from catdeploy.ir.execute import float_values

    model = program_bytes(qg)
    interp = Interpreter(model)
    values = interp.run(prepare_inputs(model, x), keep_all=True)
    details = {d.name: d for d in interp.get_tensor_details()}
    floats = float_values(qg.graph, x)
    rows = []
    for name, q in values.items():
        d = details[name]
        if name not in floats or q.dtype != np.int8 or len(d.scale) != 1:
            continue
        f = floats[name]
        f = f.transpose(0, 2, 3, 1) if f.ndim == 4 else f
        if f.shape != q.shape:
            continue
        deq = (q.astype(np.float64) - d.zero_point[0]) * d.scale[0]
        rows.append({"name": name, "bits": int(qg.plan.values.get(name, 8)),
                     "rel_err": float(np.linalg.norm(deq - f) / max(np.linalg.norm(f), 1e-12)),
                     "scale": float(d.scale[0]), "zero_point": int(d.zero_point[0]),
                     "q_min": int(q.min()), "q_max": int(q.max()),
                     "f_min": float(f.min()), "f_max": float(f.max())})
    logits = values[interp.get_output_details()[0].name]
    return rows, logits


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fmnist-effb0", help=f"reference checkpoint ({', '.join(ARCH)})")
    p.add_argument("--bits", default="w8a4")
    p.add_argument("--samples", type=int, default=256, help="calibration images")
    p.add_argument("--images", type=int, default=64, help="test images compared")
    p.add_argument("--results", default=str(RESULTS))
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from catdeploy.pipeline import calibrate_model, eval_images
    from catdeploy.quant.options import CalibrationOptions
    from catdeploy.train import reference_checkpoint

    if args.model not in ARCH:
        print(f"error: --model {args.model!r} is not one of {', '.join(ARCH)}", file=sys.stderr)
        return 2
    weights = reference_checkpoint(args.model)
    qg = calibrate_model(ARCH[args.model], str(weights), "fashion-mnist",
                         CalibrationOptions(bits=args.bits, samples=args.samples))
    x, y = eval_images("fashion-mnist", args.images)
    rows, logits = tensor_errors(qg, x)
    for r in rows:
        print(f"{r['name']:48s} {r['bits']}b rel_err {r['rel_err']:.3f}  scale {r['scale']:.4g} zp {r['zero_point']:4d} "
              f"q[{r['q_min']},{r['q_max']}] f[{r['f_min']:.3g},{r['f_max']:.3g}]")
    low = [r["rel_err"] for r in rows if r["bits"] < 8]
    top1 = float((logits.argmax(1) == y).mean() * 100)
    summary = {"model": args.model, "arch": ARCH[args.model], "weights_sha256": hashlib.sha256(Path(weights).read_bytes()).hexdigest(),
               "bits": args.bits, "calibration_images": args.samples, "test_images": int(len(y)),
               "integer_top1_on_these_images": top1, "tensors": len(rows), "low_bit_tensors": len(low),
               "low_bit_rel_err_first_median_last": [low[0], float(np.median(low)), low[-1]] if low else None,
               "logits_rel_err": rows[-1]["rel_err"] if rows else None,
               "date": time.strftime("%Y-%m-%d"), "cpu": cpu_name(), "rows": rows}
    print(f"integer top-1 on {len(y)} test images: {top1:.2f} %; sub-8-bit tensors: {len(low)}, relative error "
          f"first / median / last {summary['low_bit_rel_err_first_median_last']}")
    results = Path(args.results)
    stored = json.loads(results.read_text()) if results.exists() else {"runs": []}
    stored["runs"] = [r for r in stored["runs"] if (r["model"], r["bits"]) != (args.model, args.bits)] + [summary]
    results.write_text(json.dumps(stored, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
