"""catdeploy.check.verify with the optimized profiles: a pair whose arithmetic catrt does not model is
reported as an error for that pair (not bit-exact), the others still run. Every x86_64 pair is
modelled for this model now (the USE_NEON broadcast ADD was the last one), so the refusal is
injected: catrt's ADD prepare refuses under the LiteRT nodelegate profile, as an unmodelled op does."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catdeploy.check.interpreters import available_interpreters
from catdeploy.check.verify import verify_model

CASE = Path(__file__).resolve().parents[1] / "golden" / "edge_add_const_relu.npz"


@pytest.mark.skipif("litert" not in available_interpreters() or not CASE.exists(),
                    reason="needs ai-edge-litert and the edge_add_const_relu golden case")
def test_unmodelled_pair_is_an_error_not_a_crash(monkeypatch):
    import catrt
    from catrt.ops import add

    real_prepare = add.prepare

    def refuse_under_nodelegate(op, tensors, profile):
        if profile.name == "nodelegate-litert21-x86":
            raise catrt.CatrtError(f"{op.label}: ADD is not modelled by profile {profile.name}")
        return real_prepare(op, tensors, profile)

    monkeypatch.setattr(add, "prepare", refuse_under_nodelegate)
    data = np.load(CASE, allow_pickle=False)
    reports = verify_model(data["model"].tobytes(), data["input_0"], ["litert"], ["ref", "nodelegate", "auto"])
    by_resolver = {r.resolver: r for r in reports}
    assert by_resolver["ref"].bit_exact and by_resolver["auto"].bit_exact
    bad = by_resolver["nodelegate"]
    assert not bad.bit_exact and "not modelled" in bad.error and bad.profile == "nodelegate-litert21-x86"


@pytest.mark.skipif("litert" not in available_interpreters() or not CASE.exists(),
                    reason="needs ai-edge-litert and the edge_add_const_relu golden case")
def test_broadcast_add_is_bit_exact_under_every_x86_pair():
    """hardsigmoid's ADD of a constant (a broadcast): BroadcastAddDispatch under the NEON-via-SSE
    nodelegate kernels, XNNPACK under builtin / auto, the reference kernel under ref."""
    data = np.load(CASE, allow_pickle=False)
    reports = verify_model(data["model"].tobytes(), data["input_0"], available_interpreters(),
                           ["ref", "builtin", "nodelegate", "auto"])
    assert reports and all(r.bit_exact for r in reports), [(r.profile, r.error) for r in reports if not r.bit_exact]
