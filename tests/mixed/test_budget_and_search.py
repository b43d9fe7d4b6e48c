"""Mixed precision on hand-built graphs: the budget's layers and costs, the request parsed, widths as
plan overrides, the grid cache against a full RTN calibration, the MILP against exhaustive search,
and the checked choice never below the uniform setting on held-out images."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from catdeploy.errors import UserError
from catdeploy.ir.execute import float_logits, float_values
from catdeploy.mixed.budget import (BudgetLayer, Widths, bops_budget, budget_layers, cost_of, options_for,
                                    parse_auto, uniform_widths)
from catdeploy.mixed.search import choose_within_budget, nothing_to_trade, solve_budget
from catdeploy.mixed.sensitivity import HeldOut, WidthScorer, sensitivity_table, softmax_kl
from catdeploy.quant.calibrate_rtn import GridCache, calibrate_from_cache, calibrate_rtn, collect_activation_samples
from catdeploy.quant.options import CalibrationOptions, plan_for
from catdeploy.quant.plan import make_plan
from catdeploy.quant.quantized_graph import save_quantized_graph
from tests.quant.tiny_graphs import tiny_mobilenet


@pytest.mark.parametrize("text,expected", [("auto:w4a4", (4.0, 4.0, None)), ("AUTO:w2.5a4", (2.5, 4.0, None)),
                                           ("auto:w3a2.75", (3.0, 2.75, None))])
def test_auto_request_parses(text, expected):
    auto = parse_auto(text)
    assert (auto.weight_bits, auto.act_bits, auto.max_drop) == expected
    assert str(parse_auto("auto", 1.5)) == "auto:maxdrop1.5"


@pytest.mark.parametrize("text,drop,message", [
    ("auto", None, "needs --max-drop"), ("auto:w1.5a4", None, "outside 2..8"), ("auto:w4", None, "auto:wXaY"),
    ("auto:w4a4", 1.0, "goes with --bits auto"), ("auto", -1.0, "0..100"),
])
def test_bad_auto_requests_are_one_line_errors(text, drop, message):
    with pytest.raises(UserError, match=message):
        parse_auto(text, drop)


def test_options_refuse_overrides_and_max_drop_without_auto():
    with pytest.raises(UserError, match="leave out --weight-bits"):
        CalibrationOptions(bits="auto:w4a4", weight_overrides={"b1.*": 2})
    with pytest.raises(UserError, match="--max-drop goes with --bits auto"):
        CalibrationOptions(bits="w4a4", max_drop=1.0)
    assert CalibrationOptions(bits="auto:w3a3").mixed


def test_budget_layers_follow_the_convention():
    g = tiny_mobilenet()
    default = budget_layers(g, CalibrationOptions())
    assert [layer.name for layer in default] == ["b1.dw", "b1.proj", "b2.expand", "b2.dw", "b2.proj"]
    # the stem and the classifier stay at 8 bit by default; strict puts them in the budget
    strict = budget_layers(g, CalibrationOptions(strict=True))
    assert [layer.name for layer in strict] == ["stem", "b1.dw", "b1.proj", "b2.expand", "b2.dw", "b2.proj", "fc"]
    b2_dw = next(layer for layer in default if layer.name == "b2.dw")
    assert (b2_dw.params, b2_dw.macs, b2_dw.act_unit) == (12 * 9, 12 * 9 * 4 * 4, True)


def test_uniform_cost_is_the_setting_and_overrides_become_the_plan():
    g = tiny_mobilenet()
    layers = budget_layers(g, CalibrationOptions())
    cost = cost_of(layers, uniform_widths(layers, 4, 3))
    assert cost.weight_bits == pytest.approx(4.0) and cost.bops_per_mac == pytest.approx(12.0)
    widths = Widths({"b1.dw": 2, "b1.proj": 8, "b2.expand": 3, "b2.dw": 6, "b2.proj": 5},
                    {"b1.dw": 5, "b1.proj": 2, "b2.expand": 6, "b2.dw": 3, "b2.proj": 4})
    plan = plan_for(g, options_for(CalibrationOptions(), widths, (2, 2)))
    assert {k: plan.weights[k] for k in widths.weights} == dict(widths.weights)
    for layer, bits in widths.acts.items():
        read = plan.node_inputs[layer][0]
        assert (plan.requants[read][1] if read in plan.requants else plan.values[read]) == bits
    assert plan.weights["stem"] == plan.weights["fc"] == 8


def _tiny_setup(n_cal=64, n_held=96, seed=0):
    g = tiny_mobilenet(size=8)
    rng = np.random.default_rng(seed)
    cal = rng.normal(0, 1, size=(n_cal, 3, 8, 8)).astype(np.float32)
    held = rng.normal(0, 1, size=(n_held, 3, 8, 8)).astype(np.float32)
    fp = float_logits(g, held)
    return g, cal, HeldOut(held, fp.argmax(1), fp)


def test_grid_cache_gives_the_same_archive_as_rtn(tmp_path):
    g, cal, _ = _tiny_setup()
    plan = make_plan(g, "w3a4", weight_overrides={"b2.*": 2}, act_overrides={"b1.proj": 5})
    direct = calibrate_rtn(g, plan, [cal[:32], cal[32:]], seed=0, run_values=float_values)
    cache = GridCache(g, collect_activation_samples(g, [cal[:32], cal[32:]], 0, float_values))
    cached = calibrate_from_cache(plan, cache, meta={"seed": 0})
    save_quantized_graph(direct, tmp_path / "a.qg")
    save_quantized_graph(cached, tmp_path / "b.qg")
    assert (tmp_path / "a.qg").read_bytes() == (tmp_path / "b.qg").read_bytes()


def test_milp_matches_exhaustive_search():
    layers = [BudgetLayer("a", 100, 1000, True), BudgetLayer("b", 300, 500, True), BudgetLayer("c", 50, 4000, False)]
    rng = np.random.default_rng(3)
    bits = (2, 3, 4, 5, 6, 8)
    curves = {}
    for layer in layers:
        kinds = ("weight", "activation") if layer.act_unit else ("weight",)
        for kind in kinds:
            d = np.sort(rng.uniform(0, 1, size=5))[::-1] * rng.uniform(0.5, 5)
            curves[(layer.name, kind)] = dict(zip(bits, list(d) + [0.0]))
    x, y = 3.5, 4.0
    got = solve_budget(layers, curves, x, bops_budget(layers, x, y), bits)
    best, best_widths = np.inf, None
    for ws in itertools.product(bits, repeat=3):
        for a_a, a_b in itertools.product(bits, repeat=2):
            widths = Widths(dict(zip("abc", ws)), {"a": a_a, "b": a_b})
            if not cost_of(layers, widths).within(x, y, layers):
                continue
            loss = sum(curves[(k, "weight")][w] for k, w in zip("abc", ws)) + \
                curves[("a", "activation")][a_a] + curves[("b", "activation")][a_b]
            if loss < best - 1e-12:
                best, best_widths = loss, widths
    assert cost_of(layers, got).within(x, y, layers)
    loss_got = sum(curves[(k, "weight")][v] for k, v in got.weights.items()) + \
        sum(curves[(k, "activation")][v] for k, v in got.acts.items())
    assert loss_got == pytest.approx(best, abs=1e-6), (got, best_widths)


def test_inputs_kept_at_8_bit_count_at_8_in_the_bops_budget():
    layers = [BudgetLayer("a", 100, 1000, True), BudgetLayer("b", 100, 3000, False)]
    assert bops_budget(layers, 4, 4) == 1000 * 16 + 3000 * 32
    uniform = cost_of(layers, uniform_widths(layers, 4, 4))
    assert uniform.within(4, 4, layers) and not uniform.within(4, 3.9, layers)


def test_nothing_to_trade_at_the_lowest_width():
    layers = [BudgetLayer("a", 100, 1000, True), BudgetLayer("b", 100, 1000, True)]
    assert nothing_to_trade(layers, 2.0, 2.0, (2, 2))
    assert not nothing_to_trade(layers, 2.5, 2.0, (2, 2))       # one layer's weights fit at 3 bit
    assert not nothing_to_trade(layers, 2.0, 2.5, (2, 2))       # one layer's input fits at 3 bit
    assert not nothing_to_trade(layers, 4.0, 4.0, (4, 4))


def test_sensitivity_table_and_checked_choice_on_held_out_images():
    g, cal, held = _tiny_setup()
    options = CalibrationOptions(bits="auto:w3a3")
    layers = budget_layers(g, options)
    scorer = WidthScorer(GridCache(g, collect_activation_samples(g, [cal], 0, float_values)), options, held)
    table = sensitivity_table(scorer, layers, (2, 2))
    assert len(table["rows"]) == 2 * len(layers)       # every layer here reads a low-bit input
    assert table["all_8bit"]["top1"] >= table["all_low"]["top1"]
    runs = scorer.evaluations
    scorer.score(uniform_widths(layers, 8, 8))
    assert scorer.evaluations == runs                   # scores are kept, never run twice
    choice = choose_within_budget(scorer, layers, parse_auto("auto:w3a3"))
    assert choice.cost.within(3.0, 3.0, layers)
    assert cost_of(layers, uniform_widths(layers, 3, 3)).within(3.0, 3.0, layers)
    uniform = scorer.score(uniform_widths(layers, 3, 3), (3, 3))
    assert (choice.held_out["top1"], -choice.held_out["kl"]) >= (uniform["top1"], -uniform["kl"])
    assert any(n.startswith("chosen: ") for n in choice.notes)


def test_a_budget_checks_the_uniform_settings_one_width_narrower():
    """The uniform points of the next smaller integer budget are checked too, so a larger budget
    never chooses worse on held-out images than uniform at the smaller one."""
    from catdeploy.mixed.search import narrower_uniform_settings

    assert narrower_uniform_settings((5, 5)) == [(4, 5), (5, 4), (4, 4)]
    assert narrower_uniform_settings((3, 2)) == [(2, 2)]
    assert narrower_uniform_settings((2, 2)) == []
    g, cal, held = _tiny_setup()
    options = CalibrationOptions(bits="auto:w4a4")
    layers = budget_layers(g, options)
    scorer = WidthScorer(GridCache(g, collect_activation_samples(g, [cal], 0, float_values)), options, held)
    choice = choose_within_budget(scorer, layers, parse_auto("auto:w4a4"))
    checked = [n for n in choice.notes if n.startswith("uniform w3a3: held-out")]
    assert len(checked) == 1
    below = scorer.score(uniform_widths(layers, 3, 3), (4, 4))
    assert (choice.held_out["top1"], -choice.held_out["kl"]) >= (below["top1"], -below["kl"])


def test_reconstruction_credit_moves_weight_damage_one_width_wider():
    from catdeploy.mixed.search import credited_curves, one_width_wider, weights_one_width_wider

    assert [one_width_wider(b) for b in (2, 3, 4, 5, 6, 8)] == [3, 4, 5, 6, 8, 8]
    curves = {("a", "weight"): {2: 9.0, 3: 4.0, 4: 1.0, 5: 0.5, 6: 0.2, 8: 0.0},
              ("a", "activation"): {2: 7.0, 3: 3.0, 4: 1.0, 5: 0.5, 6: 0.2, 8: 0.0}}
    credited = credited_curves(curves)
    assert credited[("a", "weight")] == {2: 4.0, 3: 1.0, 4: 0.5, 5: 0.2, 6: 0.0, 8: 0.0}
    assert credited[("a", "activation")] == curves[("a", "activation")]     # activations: no credit
    assert weights_one_width_wider(Widths({"a": 2, "b": 8}, {"a": 3})) == Widths({"a": 3, "b": 8}, {"a": 3})


def test_reconstruction_methods_rank_with_the_credit_within_the_budget():
    """With `reconstructed`, a third solution joins and the candidates are ranked with weights one
    width wider: the choice is the best credited score among them, within the budget."""
    from catdeploy.mixed.search import one_width_wider, weights_one_width_wider

    g, cal, held = _tiny_setup()
    options = CalibrationOptions(bits="auto:w3a3", method="qdrop")
    layers = budget_layers(g, options)
    scorer = WidthScorer(GridCache(g, collect_activation_samples(g, [cal], 0, float_values)), options, held)
    rtn = choose_within_budget(scorer, layers, parse_auto("auto:w3a3"))
    assert not any("reconstruction credit" in n for n in rtn.notes)
    choice = choose_within_budget(scorer, layers, parse_auto("auto:w3a3"), reconstructed=True)
    assert cost_of(layers, choice.widths).within(3.0, 3.0, layers)
    credited = [n for n in choice.notes if "reconstruction credit" in n]
    assert len(credited) >= 3
    best = max(float(n.split("top-1 ")[1].split(" %")[0]) for n in credited)
    mine = scorer.score(weights_one_width_wider(choice.widths), (one_width_wider(3), 3))
    assert round(mine["top1"], 2) == best


def test_softmax_kl_is_zero_for_equal_logits_and_positive_otherwise():
    z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    assert softmax_kl(z, z) == pytest.approx(0.0, abs=1e-12)
    assert softmax_kl(z, z[:, ::-1]) > 0.5
