"""bench/run_all.py (`make bench`): every step names an existing script and only options that
script accepts (checked against each script's argparse without running the benchmarks)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import run_all  # noqa: E402


def test_every_step_uses_options_its_script_has():
    common = (BENCH / "bench_common.py").read_text()   # common_arguments: the reference benches' options
    for name, (script, quick, full) in run_all.STEPS.items():
        source = (BENCH / script).read_text()
        if "common_arguments(" in source:
            source += common
        accepted = set(re.findall(r'add_argument\(\s*"(--[a-z0-9-]+)"', source))
        for option in [a for a in quick + full if a.startswith("--")]:
            assert option in accepted, f"{name}: {script} has no {option}"


def test_list_and_unknown_step():
    listed = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--list"], capture_output=True, text=True)
    assert listed.returncode == 0 and len(listed.stdout.strip().splitlines()) == len(run_all.STEPS)
    bad = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--only", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "nope" in bad.stderr


def test_error_growth_is_small_at_8_bit_and_grows_at_low_bits():
    """bench/error_growth.py: the relative error of each int8 tensor against the float graph is
    small at W8A8 and larger at W8A2 on the same tiny model (a check that can fail: a wrong
    dequantization or a transposed layout gives errors near 1 everywhere)."""
    import numpy as np

    import error_growth
    from catdeploy import api
    from tests.quant.tiny_graphs import tiny_resnet

    g = tiny_resnet(0)
    rng = np.random.default_rng(0)
    calib = rng.normal(size=(64, 3, 8, 8)).astype(np.float32)
    x = rng.normal(size=(8, 3, 8, 8)).astype(np.float32)
    medians = {}
    for bits in ("w8a8", "w8a2"):
        rows, logits = error_growth.tensor_errors(api.calibrate(g, api.plan(g, bits), calib), x)
        assert logits.shape[0] == 8 and rows and rows[0]["name"] == "x"
        assert all(0 <= r["rel_err"] < 2 for r in rows)
        medians[bits] = float(np.median([r["rel_err"] for r in rows]))
    assert rows[0]["rel_err"] < 0.05
    assert medians["w8a8"] < 0.05 < medians["w8a2"]
