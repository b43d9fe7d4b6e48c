"""The evidence rule of CAT and --affine-layers: paired gains, intervals, the one-standard-error
rule, the cost limit, and the cross-fitted selection on real integer logits."""
from __future__ import annotations

import math

import numpy as np
import pytest

from catdeploy.cat.cost import file_share, head_latency_us, latency_share
from catdeploy.cat.evidence import Gain, choose_by_evidence, correct_top1, paired_gain


def test_paired_gain_is_the_mean_difference_with_its_standard_error():
    none = np.array([1, 0, 0, 1, 0, 1, 0, 0], bool)
    cand = np.array([1, 1, 0, 1, 1, 0, 0, 1], bool)
    d = cand.astype(float) - none.astype(float)          # 0, 1, 0, 0, 1, -1, 0, 1
    g = paired_gain(cand, none)
    assert g.mean == pytest.approx(100 * d.mean())
    assert g.se == pytest.approx(100 * d.std(ddof=1) / math.sqrt(8))
    assert g.low == pytest.approx(g.mean - 1.959963984540054 * g.se)
    assert g.n == 8 and not g.significant


def test_identical_correctness_has_zero_gain_and_is_not_significant():
    c = np.array([1, 0, 1, 1], bool)
    g = paired_gain(c, c)
    assert g.mean == 0 and g.se == 0 and not g.significant


def test_correct_top1_breaks_ties_toward_the_lower_index_like_arg_max():
    logits = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    assert correct_top1(logits, np.array([0, 1])).tolist() == [True, True]
    assert correct_top1(logits, np.array([1, 2])).tolist() == [False, False]


def test_one_standard_error_rule_takes_the_cheapest_candidate_near_the_best():
    gains = [Gain(2.0, 0.5, 1000), Gain(2.6, 0.5, 1000), Gain(3.0, 0.5, 1000)]
    choice = choose_by_evidence(gains, [0.0, 0.01, 0.02], [True] * 3, [(1,), (8,), (64,)])
    assert choice.index == 1 and "within one standard error" in choice.reason   # 2.6 >= 3.0 - 0.5


def test_best_is_kept_when_nothing_cheaper_is_within_one_standard_error():
    gains = [Gain(1.0, 0.3, 1000), Gain(3.0, 0.3, 1000)]
    choice = choose_by_evidence(gains, [0.0, 0.01], [True, True], [(1,), (8,)])
    assert choice.index == 1 and "best estimated gain" in choice.reason


def test_an_interval_that_includes_zero_applies_nothing():
    gains = [Gain(0.4, 0.3, 1000), Gain(0.5, 0.3, 1000)]
    choice = choose_by_evidence(gains, [0.0, 0.0], [True, True], [(1,), (8,)])
    assert choice.index is None and choice.reason.startswith("none: gain not significant")


def test_candidates_over_the_cost_limit_are_not_chosen():
    gains = [Gain(0.8, 0.2, 1000), Gain(5.0, 0.2, 1000)]
    choice = choose_by_evidence(gains, [0.0, 0.2], [True, False], [(1,), (64,)])
    assert choice.index == 0
    assert choose_by_evidence(gains, [0.0, 0.2], [False, False], [(1,), (64,)]).index is None


def test_head_cost_model_grows_with_k_and_is_zero_for_k1():
    assert head_latency_us(1, 512, 10) == 0.0
    assert 0 < head_latency_us(8, 512, 10) < head_latency_us(64, 512, 10)
    assert file_share(0, 1000) == 0.0 and file_share(1000, 9000) == pytest.approx(0.1)


def test_modelled_latency_share_matches_the_measured_head_cost_tables():
    """docs/BENCHMARKS.md, CAT head cost (tflite-runtime 2.14, 1 thread): FMNIST-R18 K=64 5.6-7.5 %,
    K=16 1.5 %; FMNIST-MBV2 K=32 23 %, K=8 7 %. The model must put them on the same side of 5 %."""
    import torchvision

    from catdeploy import api

    r18 = api.capture(torchvision.models.resnet18(num_classes=10), (32, 32), 3)
    mbv2 = api.capture(torchvision.models.mobilenet_v2(num_classes=10), (32, 32), 3)
    assert latency_share(r18, 16, 512, 10) < 0.05 < latency_share(r18, 64, 512, 10) < 0.10
    assert 0.15 < latency_share(mbv2, 32, 1280, 10) < 0.30
    assert 0.05 < latency_share(mbv2, 8, 1280, 10) < 0.10


def test_simultaneous_intervals_widen_with_the_number_of_candidates():
    from scipy.stats import norm

    from catdeploy.cat.evidence import simultaneous_z

    scipy_z = norm.ppf(1 - 0.05 / 110)   # 55 candidates, two-sided
    assert simultaneous_z(1) == pytest.approx(1.959964, abs=1e-5)
    assert simultaneous_z(55) == pytest.approx(scipy_z, abs=1e-9)


def _tiny_cat_inputs(n: int = 480):
    from catdeploy import api
    from tests.quant.tiny_graphs import tiny_resnet

    g = tiny_resnet(3)
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(n, 3, 8, 8)) * 1.5).astype(np.float32)
    qg = api.calibrate(g, api.plan(g, "w2a2"), x[:128])
    return g, qg, x


def test_cross_fitting_fits_every_fold_without_its_images_and_records_the_evidence(monkeypatch):
    from catdeploy.cat import select
    from catdeploy.cat.options import CatOptions
    from catdeploy.ir.execute import float_logits_function

    g, qg, x = _tiny_cat_inputs()
    fit_sizes = []
    real_fit = select.fit_cat

    def recording_fit(q, f, **kw):
        fit_sizes.append(len(q))
        return real_fit(q, f, **kw)

    monkeypatch.setattr(select, "fit_cat", recording_fit)
    chunks = [(x[:200], None), (x[200:], None)]
    out = select.calibrate_cat_on_chunks(qg, float_logits_function(g), chunks, CatOptions(enabled=True, folds=4))
    sel = out.meta["cat_selection"]
    assert sel["selection"] == "cross-fitted" and sel["folds"] == 4 and sel["held_out_images"] == len(x)
    # every cross-fitted fit saw exactly the three other folds (120 images each), the last one all 480
    assert set(fit_sizes[:-1] if sel["applied"] else fit_sizes) == {360}
    rows = sel["candidates"][1:]
    assert all({"gain", "gain_low", "gain_high", "latency_share", "file_share", "within_cost"} <= set(r) for r in rows)
    assert all(r["gain_low"] <= r["gain"] <= r["gain_high"] for r in rows)
    assert sum(r["chosen"] for r in sel["candidates"]) == 1
    if sel["applied"]:
        assert sel["gain_low"] > 0 and fit_sizes[-1] == len(x) and out.cat is not None
    else:
        assert sel["reason"].startswith("none") and out.cat is None


def test_no_correction_is_applied_when_the_targets_are_noise():
    """Labels drawn at random: no candidate can truly gain, and the simultaneous intervals must say so."""
    from catdeploy.cat.options import CatOptions
    from catdeploy.cat.select import calibrate_cat_on_chunks
    from catdeploy.ir.execute import float_logits_function

    g, qg, x = _tiny_cat_inputs()
    labels = np.random.default_rng(9).integers(0, 10, len(x))
    out = calibrate_cat_on_chunks(qg, float_logits_function(g), [(x, labels)], CatOptions(enabled=True))
    sel = out.meta["cat_selection"]
    assert not sel["applied"] and out.cat is None, sel["reason"]
    assert sel["reason"].startswith("none: gain not significant")
