"""The documented examples run as written (issue 11: API examples tested in CI)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_python_api_example_runs_and_is_bit_exact(tmp_path):
    out = tmp_path / "digits_net.tflite"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "python_api.py"), "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "bit-exact", proc.stdout
    verify_lines = [line for line in lines if "mismatched elements" in line]
    assert len(verify_lines) >= 1 and all(line.endswith(" 0 mismatched elements") for line in verify_lines), proc.stdout
    assert out.is_file() and out.with_suffix(".qg").is_file() and Path(str(out) + ".json").is_file()
    top1 = float(proc.stdout.split("integer top-1 ")[1].split(" %")[0])
    assert top1 >= 85.0, proc.stdout  # digits is easy: a broken quantizer falls far below
