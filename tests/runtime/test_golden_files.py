"""catrt against the stored single-op golden vectors of tests/golden (written by
catdeploy.export.tflite, run under every installed interpreter): every `ref` output, bit for bit,
with the profile of that interpreter."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import catrt
from catrt import CatrtError
from catrt.profiles import profile_for

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FILES = sorted(GOLDEN.glob("*.npz"))
INTERPRETERS = ("tflite-runtime", "tensorflow", "litert")


def _load(path: Path):
    data = np.load(path, allow_pickle=False)
    meta = json.loads(str(data["meta"]))
    inputs = [data[f"input_{i}"] for i in range(len(meta["inputs"]))]
    return data, meta, inputs


@pytest.mark.skipif(not FILES, reason="no golden files in tests/golden")
@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_ref_outputs(path, interpreter):
    data, meta, inputs = _load(path)
    prefix = f"output__{interpreter}__ref__"
    outputs = sorted((k for k in data.files if k.startswith(prefix)),
                     key=lambda k: int(k[len(prefix):]))
    profile = profile_for(interpreter, "ref")
    if f"broken__{interpreter}__ref" in data.files:
        # The interpreter computes garbage here; catrt must refuse rather than invent values.
        with pytest.raises(CatrtError):
            catrt.Interpreter(data["model"].tobytes(), profile)
        return
    if f"error__{interpreter}__ref" in data.files:
        with pytest.raises(CatrtError):
            catrt.Interpreter(data["model"].tobytes(), profile).run(inputs)
        return
    if not outputs:
        pytest.skip(f"no {interpreter} ref run stored")
    got = catrt.Interpreter(data["model"].tobytes(), profile).run(inputs)
    assert list(got) == meta["outputs"]
    for key, name in zip(outputs, meta["outputs"]):
        expected = data[key]
        assert got[name].dtype == expected.dtype and got[name].shape == expected.shape
        if expected.dtype.kind == "f":
            assert np.array_equal(got[name], expected, equal_nan=True), name
        else:
            mismatched = int(np.sum(got[name] != expected))
            assert mismatched == 0, f"{name}: {mismatched} of {expected.size} differ"
