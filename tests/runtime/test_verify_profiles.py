"""catdeploy.check.verify with the optimized profiles: a pair whose arithmetic catrt does not model is
reported as an error for that pair (not bit-exact), the others still run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catdeploy.check.interpreters import available_interpreters
from catdeploy.check.verify import verify_model

CASE = Path(__file__).resolve().parents[1] / "golden" / "edge_add_const_relu.npz"


@pytest.mark.skipif("litert" not in available_interpreters() or not CASE.exists(),
                    reason="needs ai-edge-litert and the edge_add_const_relu golden case")
def test_unmodelled_pair_is_an_error_not_a_crash():
    data = np.load(CASE, allow_pickle=False)
    reports = verify_model(data["model"].tobytes(), data["input_0"], ["litert"], ["ref", "nodelegate", "auto"])
    by_resolver = {r.resolver: r for r in reports}
    assert by_resolver["ref"].bit_exact and by_resolver["auto"].bit_exact
    bad = by_resolver["nodelegate"]
    assert not bad.bit_exact and "broadcast ADD" in bad.error and bad.profile == "nodelegate-litert21-x86"
