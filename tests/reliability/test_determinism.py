"""Same inputs and seed -> byte-identical QuantizedGraph archive and .tflite (and the same manifest
but for the source path), across two separate processes with different PYTHONHASHSEED, so that no
result may depend on set/dict hash order, timings or the process."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
RUN = """
import sys
from typer.testing import CliRunner
from catdeploy.cli import app

out, weights = sys.argv[1], sys.argv[2]
runner = CliRunner()
for args in (
    ["calibrate", "mnasnet0_5", "--weights", weights, "--data", "digits", "--bits", "w4a4",
     "--samples", "64", "--seed", "3", "-o", out + "/m.qg"],
    ["export", out + "/m.qg", "--target", "tflite", "-o", out + "/m.tflite"],
):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args[0], result.stderr, result.exception)
"""


def test_two_processes_write_identical_qg_and_tflite(tmp_path):
    from catdeploy.data.zoo import build_model

    torch.manual_seed(0)
    weights = tmp_path / "mnasnet0_5_random.pt"
    torch.save(build_model("mnasnet0_5").state_dict(), weights)
    procs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}"
        out.mkdir()
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, OMP_NUM_THREADS="1",
                   PYTHONPATH=str(ROOT))
        procs.append((out, subprocess.Popen([sys.executable, "-c", RUN, str(out), str(weights)],
                                            env=env, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)))
    for out, proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
    (a, _), (b, _) = procs
    for name in ("m.qg", "m.tflite"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    manifests = [json.loads((run / "m.tflite.json").read_text()) for run in (a, b)]
    assert [m.pop("source") for m in manifests] == [{"quantized_graph": str(run / "m.qg")}
                                                    for run in (a, b)]
    assert manifests[0] == manifests[1]   # no timings or other run-dependent fields
    with zipfile.ZipFile(io.BytesIO((a / "m.qg").read_bytes())) as zf:
        meta = json.loads(zf.read("quantized_graph.json"))["meta"]
    assert meta["samples"] == 64 and meta["calibration_images"] == 64
    assert (a / "m.tflite").read_bytes()[4:8] == b"TFL3"
