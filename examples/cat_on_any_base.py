"""CAT and the in-network affine on any QuantizedGraph, with the Python API.

Quantizes the embedded default model (or yours) with RTN, then applies --affine-layers and CAT
on that base (both fitted on 4096 train images the calibration did not use and applied only on
evidence: cross-fitted gains with simultaneous intervals, docs/CAT.md), exports the integer
graph with the CAT head folded in, verifies it bit for bit and prints integer top-1 without and
with the corrections.

    .venv/bin/python examples/cat_on_any_base.py [--model mnasnet0_5 --weights PATH] [--bits w2a4]
"""
import argparse
from pathlib import Path

from catdeploy import api
from catdeploy.demo import default_model
from catdeploy.check.interpreters import available_interpreters
from catdeploy.cat.options import CatOptions
from catdeploy.data.preprocess import preprocessing_from_meta
from catdeploy.pipeline import calibrate_model, cat_image_source, eval_images, export_quantized
from catdeploy.quant.options import CalibrationOptions
from catdeploy.check.verify import verify_model
from catdeploy.integer import prepare_inputs, run_catrt, top_k


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model")
    p.add_argument("--weights")
    p.add_argument("--bits", default="w2a4")
    p.add_argument("--out", default="example_out/model_cat.tflite")
    args = p.parse_args()
    if args.weights is None:
        args.model, weights, _ = default_model()
        args.weights = str(weights)
    base = calibrate_model(args.model, args.weights, "fashion-mnist", CalibrationOptions(bits=args.bits))
    # the CAT images: train images after the base's calibration draw, streamed in chunks
    cat_images = cat_image_source("fashion-mnist", CatOptions(), preprocessing_from_meta(base.meta), None, 0,
                                  base.meta["samples"])
    corrected = api.apply_affine_layers(base, cat_images(), None, log=print)
    corrected = api.apply_cat(corrected, cat_images(), None, log=print)   # K, alpha cross-fitted, applied on evidence
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest = export_quantized(corrected, out, force=True)
    model = out.read_bytes()
    print(f"wrote {out} ({manifest['size_bytes']} bytes; CAT {manifest['cat'] and manifest['cat']['clusters']} clusters)")
    x, _ = eval_images("fashion-mnist:test", 128)
    for r in verify_model(model, prepare_inputs(model, x), available_interpreters(), ["ref"]):
        print(f"{r.interpreter} {r.version} {r.resolver}: {r.tensors_compared} tensors, "
              f"{r.mismatched_elements} mismatched elements")
    x, y = eval_images("fashion-mnist:test", 2000)
    base_top1 = top_k(run_catrt(api.export_tflite(api.lower(base)), x), y, 1) * 100
    top1 = top_k(run_catrt(model, x), y, 1) * 100
    print(f"integer top-1 on 2000 test images: RTN {base_top1:.2f} %, + affine layers + CAT {top1:.2f} %")


if __name__ == "__main__":
    main()
