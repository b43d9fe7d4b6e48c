"""The fast part of the timm survey (bench/zoo_coverage.py --source timm, docs/ARCHITECTURES.md):
the survey covers every model of the surveyed families, at least 90 % of them exported bit-exact,
and the smallest model of each family still captures or is still refused at capture as the survey
recorded (a refusal: one grouped line of at most 400 characters). No calibration here (the
survey's export and bit-exact check are the bench's job)."""
from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path

import pytest
import torch

from catdeploy import api
from catdeploy.errors import UserError

timm = pytest.importorskip("timm")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from zoo_coverage import SOURCES, TIMM_FAMILIES, build_timm, timm_model_names  # noqa: E402

torch.set_num_threads(1)
SOURCE = SOURCES["timm"]
ROWS = {r["model"]: r for r in json.loads(SOURCE.results.read_text())["rows"]}
RUN = {name: r for name, r in ROWS.items() if r["status"] != "not run (size)"}


def smallest_per_family() -> list[str]:
    """The model with the fewest parameters of each surveyed family pattern."""
    chosen = set()
    for pattern in TIMM_FAMILIES:
        members = [name for name in RUN if fnmatch.fnmatch(name, pattern)]
        if members:
            chosen.add(min(members, key=lambda name: (RUN[name]["params"], name)))
    return sorted(chosen)


def test_survey_covers_every_model_of_the_families():
    assert sorted(ROWS) == timm_model_names()
    assert not [n for n, r in ROWS.items() if r["status"].startswith("CRASH")]
    exact = [n for n, r in RUN.items() if r["status"] == "exported" and r.get("bit_exact")]
    assert len(exact) >= 0.9 * len(RUN), sorted(set(RUN) - set(exact))
    for name in exact:
        assert RUN[name]["verify_images"] >= 16 and not any(RUN[name]["mismatched"])


@pytest.mark.parametrize("name", smallest_per_family())
def test_capture_or_refuse_as_recorded(name):
    row = RUN[name]
    torch.manual_seed(0)
    model = build_timm(name, 10)
    size = SOURCE.input_sizes.get(name, 32)
    if row["status"] == "refused" and "nodes" not in row:  # refused at capture (else at export)
        with pytest.raises(UserError) as refused:
            api.capture(model, size)
        message = str(refused.value)
        assert "\n" not in message and len("error: " + message) <= 400, message
        assert message.split(":")[0] == row["message"].split(":")[0], message
        return
    graph = api.capture(model, size)
    assert len(graph.outputs) == 1 and graph.values[graph.outputs[0]].shape[-1] == 10
