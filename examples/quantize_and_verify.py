"""Quantize a torchvision model to W4A4 with RTN, export an integer-only TFLite graph, verify it
bit for bit against every installed TFLite interpreter (BUILTIN_REF) and report integer accuracy.

    .venv/bin/python examples/quantize_and_verify.py [--model mnasnet0_5] [--weights PATH] [--bits w4a4]

Without --weights it uses the embedded default model (catdeploy/assets/default_model.pt).
"""
import argparse
from pathlib import Path

from catdeploy.demo import default_model
from catdeploy.check.interpreters import available_interpreters
from catdeploy.pipeline import calibrate_model, eval_images, export_quantized
from catdeploy.quant.options import CalibrationOptions
from catdeploy.check.verify import verify_model
from catdeploy.integer import prepare_inputs, run_catrt, top_k


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model")
    p.add_argument("--weights")
    p.add_argument("--bits", default="w4a4")
    p.add_argument("--out", default="example_out/model.tflite")
    args = p.parse_args()
    if args.weights is None:
        args.model, weights, _ = default_model()
        args.weights = str(weights)
    qg = calibrate_model(args.model, args.weights, "fashion-mnist", CalibrationOptions(bits=args.bits))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest = export_quantized(qg, out, force=True)
    model = out.read_bytes()
    print(f"wrote {out} ({manifest['size_bytes']} bytes)")
    x, y = eval_images("fashion-mnist:test", 256)
    for r in verify_model(model, prepare_inputs(model, x), available_interpreters(), ["ref"]):
        print(f"{r.interpreter} {r.version} {r.resolver}: {r.tensors_compared} tensors, "
              f"{r.mismatched_elements} mismatched elements")
    x, y = eval_images("fashion-mnist:test", 2000)
    print(f"integer top-1 on 2000 test images: {top_k(run_catrt(model, x), y, 1) * 100:.2f} %")


if __name__ == "__main__":
    main()
