"""The README's quickstart lines run as written (issue 11), from a directory that looks like the
repository root to them (the default model at catdeploy/assets/), with .venv/bin on PATH."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- quickstart:begin -->\n(.*?)<!-- quickstart:end -->", text, re.S)
    assert block, "README.md has no quickstart block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_block_is_what_a_new_user_types():
    commands = quickstart_commands()
    assert len(commands) >= 4 and all(c.startswith("catdeploy ") for c in commands)
    assert any(" verify " in c for c in commands) and any(" export " in c for c in commands)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist not installed")
def test_readme_quickstart_runs_as_written(tmp_path):
    assets = tmp_path / "catdeploy" / "assets"
    assets.mkdir(parents=True)
    (assets / "default_model.pt").symlink_to(ROOT / "catdeploy" / "assets" / "default_model.pt")
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", OMP_NUM_THREADS="1")
    outputs = []
    for command in quickstart_commands():
        proc = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{command}\n{proc.stderr[-2000:]}"
        outputs.append(proc.stdout)
    verify = next(o for c, o in zip(quickstart_commands(), outputs) if " verify " in c)
    assert verify.count("bit-exact") >= 1 and "MISMATCH" not in verify
    assert (tmp_path / "m.tflite").is_file() and (tmp_path / "m.tflite.json").is_file()
