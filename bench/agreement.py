"""Top-1 agreement of TFLite (tflite-runtime 2.14, BUILTIN_REF) with catrt on the whole test split,
for exported models: prints one line per model.

    .venv/bin/python bench/agreement.py bench/out/fmnist-mbv2_w4a4.tflite [...]
"""
import sys

import numpy as np

from catdeploy.check.interpreters import run_tflite
from catdeploy.integer import run_catrt, top_k
from catdeploy.pipeline import eval_images


def main() -> None:
    x, y = eval_images("fashion-mnist:test", None)
    for path in sys.argv[1:]:
        model = open(path, "rb").read()
        ours = run_catrt(model, x)
        theirs = run_tflite(model, x, "tflite-runtime", "ref")
        same = int(np.sum(np.argmax(ours, 1) == np.argmax(theirs, 1)))
        exact = bool(np.array_equal(ours, theirs))
        print(f"{path}: {same}/{len(x)} same top-1, logits identical: {exact}, "
              f"integer top-1 {top_k(ours, y, 1) * 100:.2f} %", flush=True)


if __name__ == "__main__":
    main()
