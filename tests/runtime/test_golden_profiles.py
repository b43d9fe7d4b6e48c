"""catrt's optimized-kernel and XNNPACK profiles against the stored single-op golden vectors of
tests/golden: every builtin / nodelegate / auto output that tflite-runtime 2.14, TF 2.19 and
ai-edge-litert 2.1.0 computed on x86_64, bit for bit, with profile_for(interpreter, resolver,
arch="x86_64") (the golden runs were recorded on x86_64; see tests/golden/README.md)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import catrt
from catrt.profiles import profile_for

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FILES = sorted(GOLDEN.glob("*.npz"))
INTERPRETERS = ("tflite-runtime", "tensorflow", "litert")
RESOLVERS = ("builtin", "nodelegate", "auto")
# Ops whose optimized-kernel and XNNPACK arithmetic the profiles model (docs/PROFILES.md). A
# golden case with another op (none now) is
# skipped here, with its op named; its ref outputs are still checked by test_golden_files.py.
MODELLED_OPS = {"ADD", "ARG_MAX", "AVERAGE_POOL_2D", "CAST", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
                "DEQUANTIZE", "FULLY_CONNECTED", "GATHER", "MAX_POOL_2D", "MAXIMUM", "MINIMUM", "MUL", "PAD",
                "QUANTIZE", "RESHAPE", "LEAKY_RELU", "PRELU", "LOGISTIC", "HARD_SWISH"}


@pytest.mark.skipif(not FILES, reason="no golden files in tests/golden")
@pytest.mark.parametrize("resolver", RESOLVERS)
@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_optimized_outputs(path, interpreter, resolver):
    data = np.load(path, allow_pickle=False)
    meta = json.loads(str(data["meta"]))
    prefix = f"output__{interpreter}__{resolver}__"
    keys = sorted((k for k in data.files if k.startswith(prefix)), key=lambda k: int(k[len(prefix):]))
    if f"error__{interpreter}__{resolver}" in data.files:
        with pytest.raises(catrt.CatrtError):
            catrt.Interpreter(data["model"].tobytes(), profile_for(interpreter, resolver, arch="x86_64"))
        return
    if not keys:
        pytest.skip(f"no {interpreter}/{resolver} run stored")
    unmodelled = sorted(set(meta["ops"]) - MODELLED_OPS)
    if unmodelled:
        pytest.skip(f"{', '.join(unmodelled)}: no optimized-profile model yet")
    inputs = [data[f"input_{i}"] for i in range(len(meta["inputs"]))]
    profile = profile_for(interpreter, resolver, arch="x86_64")
    interp = catrt.Interpreter(data["model"].tobytes(), profile)
    got = interp.run(inputs)
    for key, name in zip(keys, meta["outputs"]):
        expected = data[key]
        assert got[name].dtype == expected.dtype and got[name].shape == expected.shape
        if expected.dtype.kind == "f":
            assert np.array_equal(got[name], expected, equal_nan=True), f"{profile.name}: {name}"
        else:
            mismatched = int(np.sum(got[name] != expected))
            assert mismatched == 0, f"{profile.name}: {name}: {mismatched} of {expected.size} differ"


def test_golden_set_exercises_every_choice():
    """The golden set must keep cases where the optimized paths differ from the reference one,
    or the tests above could not fail: count differing elements per profile family."""
    differing = {}
    for path in FILES:
        meta = json.loads(str(np.load(path, allow_pickle=False)["meta"]))
        for run, n in meta.get("elements_differing_from_ref", {}).items():
            differing[run] = differing.get(run, 0) + n
    for run in ("tflite-runtime/builtin", "tensorflow/nodelegate", "litert/nodelegate",
                "tensorflow/auto", "litert/auto"):
        assert differing.get(run, 0) > 0, run
