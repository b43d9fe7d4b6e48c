"""The fast part of the torchvision survey (bench/zoo_coverage.py, docs/ARCHITECTURES.md): every
classifier under 30 M parameters still captures or is still refused at capture, as the survey
recorded, and a refusal is one line that names the unsupported ops and where they occur. No
calibration (the survey's export and bit-exact check are the bench's job)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from catdeploy import api
from catdeploy.data.zoo import build_model, classification_model_names
from catdeploy.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from zoo_coverage import INPUT_SIZES, RESULTS  # noqa: E402

torch.set_num_threads(1)
ROWS = {r["model"]: r for r in json.loads(RESULTS.read_text())["rows"]}
SMALL = sorted(name for name, r in ROWS.items() if 0 < r["params"] <= 30e6)


def test_survey_covers_the_whole_list():
    assert sorted(ROWS) == classification_model_names()
    assert not [n for n, r in ROWS.items() if r["status"].startswith("CRASH")]
    assert len(SMALL) >= 35


@pytest.mark.parametrize("name", SMALL)
def test_capture_or_refuse_as_recorded(name):
    row = ROWS[name]
    torch.manual_seed(0)
    model = build_model(name, 10)
    size = INPUT_SIZES.get(name, 32)
    if row["status"] == "refused" and "nodes" not in row:  # refused at capture (else at export)
        with pytest.raises(UserError) as refused:
            api.capture(model, size)
        message = str(refused.value)
        assert "\n" not in message and message.split(":")[0] == row["message"].split(":")[0], message
        if "unsupported ops" in row["message"]:
            assert " at " in message and message.count("aten.") >= 1
        return
    graph = api.capture(model, size)
    assert graph.nodes and len(graph.outputs) == 1
    assert graph.values[graph.outputs[0]].shape[-1] == 10
