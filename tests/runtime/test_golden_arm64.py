"""catrt's aarch64 profiles against what the aarch64 wheels (tflite-runtime 2.14.0, ai-edge-litert
2.1.0: the Raspberry Pi's interpreters) computed for the single-op golden cases under qemu-user,
stored in tests/golden/arm64 by tests/golden/make_golden_arm64.py: every stored output of every
resolver, bit for bit, with profile_for(interpreter, resolver, arch="aarch64"). The models and
inputs are those of the x86 files (tests/golden/<case>.npz), tied by the model's sha256. No
emulator is needed here; tests/runtime/test_arm_emulation.py runs the wheels live where qemu is."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import catrt
from catrt.profiles import profile_for

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FILES = sorted((GOLDEN / "arm64").glob("*.npz"))
RUNS = [(interpreter, resolver) for interpreter in ("tflite-runtime", "litert")
        for resolver in ("ref", "builtin", "nodelegate", "auto")]


def _case(path: Path):
    arm = np.load(path, allow_pickle=False)
    meta = json.loads(str(arm["meta"]))
    source = np.load(GOLDEN / path.name, allow_pickle=False)
    model = source["model"].tobytes()
    assert hashlib.sha256(model).hexdigest() == meta["model_sha256"], f"{path.name}: regenerate (model changed)"
    inputs = [source[f"input_{i}"] for i in range(len(meta["inputs"]))]
    return arm, meta, model, inputs


@pytest.mark.skipif(not FILES, reason="no aarch64 golden files in tests/golden/arm64")
@pytest.mark.parametrize("interpreter,resolver", RUNS, ids=[f"{i}-{r}" for i, r in RUNS])
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_aarch64_profiles_reproduce_the_aarch64_wheels(path, interpreter, resolver):
    arm, meta, model, inputs = _case(path)
    profile = profile_for(interpreter, resolver, arch="aarch64")
    if f"error__{interpreter}__{resolver}" in arm.files:
        # the wheel refuses the model (an op version its resolver does not register): so does catrt
        with pytest.raises(catrt.CatrtError):
            catrt.Interpreter(model, profile)
        return
    prefix = f"output__{interpreter}__{resolver}__"
    keys = sorted((k for k in arm.files if k.startswith(prefix)), key=lambda k: int(k[len(prefix):]))
    assert keys, f"no {interpreter}/{resolver} run stored"
    got = catrt.Interpreter(model, profile).run(inputs)
    for key, name in zip(keys, meta["outputs"]):
        mismatched = int(np.sum(got[name] != arm[key]))
        assert mismatched == 0, f"{profile.name}: {name}: {mismatched} of {arm[key].size} differ"


def test_aarch64_golden_set_exercises_the_arm_paths():
    """The stored aarch64 runs must keep elements where the Arm paths differ from the reference
    kernel, per family, or the test above could not fail for them."""
    differing: dict[str, int] = {}
    for path in FILES:
        meta = json.loads(str(np.load(path, allow_pickle=False)["meta"]))
        for run, n in meta["elements_differing_from_ref"].items():
            differing[f"{meta['case']}:{run}"] = n
    for key in ("edge_hard_swish_sweep:tflite-runtime/nodelegate", "edge_hard_swish_sweep:litert/nodelegate",
                "edge_logistic_sweep:litert/auto", "edge_leaky_relu_scales:litert/builtin",
                "fc_int2_ties:litert/nodelegate", "conv_int4_ties:litert/nodelegate",
                "dw_neon_tail_ties:tflite-runtime/nodelegate", "conv_ties:litert/nodelegate"):
        assert differing.get(key, 0) > 0, key
