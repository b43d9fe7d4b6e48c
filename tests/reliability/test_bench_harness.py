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
    for name, (script, quick, full) in run_all.STEPS.items():
        source = (BENCH / script).read_text()
        accepted = set(re.findall(r'add_argument\(\s*"(--[a-z0-9-]+)"', source))
        for option in [a for a in quick + full if a.startswith("--")]:
            assert option in accepted, f"{name}: {script} has no {option}"


def test_list_and_unknown_step():
    listed = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--list"], capture_output=True, text=True)
    assert listed.returncode == 0 and len(listed.stdout.strip().splitlines()) == len(run_all.STEPS)
    bad = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--only", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "nope" in bad.stderr
