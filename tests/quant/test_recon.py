"""Reconstruction PTQ: unit partitioning, AdaRound primitives, QDrop mixing, PD loss, end to end."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from catdeploy import api
from catdeploy.ir.graph import OpKind
from catdeploy.quant.plan import WEIGHTED_OPS
from catdeploy.quant.qparams import weight_code_range
from catdeploy.quant.recon.engine import (beta_schedule, prediction_difference, reconstruct,
                                          reconstruction_error, rounding_regulariser)
from catdeploy.quant.recon.methods import Hyper, hyper_for
from catdeploy.quant.recon.units import block_units, layer_units
from catdeploy.quant.simulate import QuantSimulator, rectified_sigmoid, rectified_sigmoid_inverse
from catdeploy.integer import integer_outputs, prepare_inputs, run_catrt
from catdeploy.ir.execute import float_logits, float_values
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# units from the graph
def _captured(name: str):
    import torchvision

    model = getattr(torchvision.models, name)(num_classes=10).eval()
    torch.manual_seed(0)
    return api.capture(model, 32)


# expected block units: stem (+ pool) | one per residual block | non-residual inverted-residual
# blocks (expand, depthwise, project) | classifier. regnet_x_400mf: stem + 1 + 2 + 7 + 12 blocks + fc.
EXPECTED_BLOCKS = {"resnet18": 10, "resnet50": 18, "mobilenet_v2": 18, "mnasnet0_5": 18, "regnet_x_400mf": 24}


@pytest.mark.parametrize("arch", sorted(EXPECTED_BLOCKS))
def test_units_partition_every_supported_architecture(arch):
    graph = _captured(arch)
    weighted = [n.name for n in graph.nodes if n.kind in WEIGHTED_OPS]
    kinds = {n.name: n.kind for n in graph.nodes}
    for units in (block_units(graph), layer_units(graph)):
        covered = [name for u in units for name in u.nodes if kinds[name] in WEIGHTED_OPS]
        assert covered == weighted  # every weighted node once, in network order
    blocks = block_units(graph)
    assert len(blocks) == EXPECTED_BLOCKS[arch]
    assert len(layer_units(graph)) == len(weighted)
    position = {n.name: i for i, n in enumerate(graph.nodes)}
    for u in blocks:
        assert len(u.inputs) == 1  # residual-closed: one live value enters, one leaves
        produced = {graph.node(n).output for n in u.nodes}
        for name in u.nodes:  # nothing outside the unit reads an inner value
            if graph.node(name).output != u.output:
                assert all(c.name in u.nodes for c in graph.consumers(graph.node(name).output))
        assert [position[n] for n in u.nodes] == sorted(position[n] for n in u.nodes)
        assert u.output in produced
    for u in blocks:  # every ADD sits in the unit of the convolutions of its branch
        for name in u.nodes:
            node = graph.node(name)
            if node.kind == OpKind.ADD:
                for v in node.inputs:
                    producer = graph.producer(v)
                    assert producer is None or producer.name in u.nodes or v == u.inputs[0]


# ---------------------------------------------------------------------------------------------
# AdaRound
def test_rectified_sigmoid_and_its_inverse():
    v = torch.tensor([-50.0, 0.0, 50.0])
    assert rectified_sigmoid(v).tolist() == [0.0, 0.5, 1.0]  # clipped at both ends, 0.5 at V = 0
    h = np.array([0.1, 0.3, 0.5, 0.9])
    back = rectified_sigmoid(torch.tensor(rectified_sigmoid_inverse(h), dtype=torch.float64)).numpy()
    np.testing.assert_allclose(back, h, atol=1e-12)
    # h(V) = clip(sigmoid(V) * 1.2 - 0.1, 0, 1)
    assert rectified_sigmoid(torch.tensor([1.0])).item() == pytest.approx(1.2 / (1 + math.exp(-1)) - 0.1)


def test_regulariser_and_annealing():
    v = torch.tensor([-50.0, 50.0, 0.0])
    assert rounding_regulariser(v[:2], 20.0).item() == 0.0  # hardened values cost nothing
    assert rounding_regulariser(v[2:], 2.0).item() == 1.0   # h = 0.5 costs 1
    h = Hyper()
    assert beta_schedule(0, 100, h) is None and beta_schedule(19, 100, h) is None  # 20 % warm-up
    assert beta_schedule(20, 100, h) == 20.0
    assert beta_schedule(100, 100, h) == pytest.approx(2.0)
    assert beta_schedule(60, 100, h) == pytest.approx(2 + 18 * 0.5)


def test_adaround_starts_at_the_float_weight_and_hardens_by_sign():
    g = tiny_resnet(0)
    qg = api.calibrate(g, api.plan(g, "w2a4"), np.random.default_rng(0).normal(size=(16, 3, 8, 8)).astype(np.float32))
    sim = QuantSimulator(qg)
    name = next(n for n, wq in qg.weight_qparams.items() if wq.bits == 2 and not wq.symmetric)
    wq = qg.weight_qparams[name]
    v = sim.init_adaround(name)
    s = torch.from_numpy(wq.scale).reshape(-1, 1, 1, 1)
    soft = sim.soft_codes(name)
    inside = (sim.weight_f[name] / s + torch.from_numpy(wq.zero_point).reshape(-1, 1, 1, 1).float())
    lo, hi = weight_code_range(wq.bits, wq.symmetric)
    assert (lo, hi) == (0, 3)
    ok = (inside > lo + 1e-3) & (inside < hi - 1e-3)
    np.testing.assert_allclose((soft * s)[ok].numpy(), sim.weight_f[name][ok].numpy(), rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        v.copy_(torch.where(torch.arange(v.numel()).reshape(v.shape) % 2 == 0, 3.0, -3.0))
    floor = torch.floor(sim.weight_f[name] / s)
    sim.harden(name)
    z = torch.from_numpy(wq.zero_point).reshape(-1, 1, 1, 1).float()
    expect = torch.clamp(floor + (torch.arange(v.numel()).reshape(v.shape) % 2 == 0).float() + z, lo, hi) - z
    assert torch.equal(sim.codes[name], expect)
    assert name not in sim.rounding


def _soft_rounding_case():
    """A 2-bit weight with codes at and beyond both ends of [0, 3], V spread over both clips."""
    gen = torch.Generator().manual_seed(0)
    shape = (16, 8, 3, 3)
    scale = torch.rand(16, 1, 1, 1, generator=gen) * 0.1 + 0.02
    zero_point = torch.full((16, 1, 1, 1), 2.0)
    floor = torch.randint(-2, 6, shape, generator=gen).float()   # qmin - 2 .. qmax + 2
    v = (torch.randn(shape, generator=gen) * 3).requires_grad_(True)
    return v, floor, scale, zero_point, torch.randn(shape, generator=gen)


@pytest.mark.parametrize("beta", [None, 20.0, 2.7])
def test_fused_soft_rounding_matches_autograd_of_the_adaround_expressions(beta):
    from catdeploy.quant.simulate import _SoftRounding

    v, floor, scale, zero_point, upstream = _soft_rounding_case()
    qmin, qmax = 0, 3
    reference_weight = (torch.clamp(floor + rectified_sigmoid(v), qmin, qmax) - zero_point) * scale
    reference_reg = rounding_regulariser(v, beta) if beta is not None else torch.zeros(())
    ((reference_weight * upstream).sum() + 0.01 * reference_reg).backward()
    reference_grad, v.grad = v.grad.clone(), None
    passes = torch.where((floor >= qmin) & (floor <= qmax - 1), scale, 0.0)
    weight, reg = _SoftRounding.apply(v, floor, passes, scale, zero_point, qmin, qmax, beta)
    ((weight * upstream).sum() + 0.01 * reg).backward()
    assert torch.equal(weight, reference_weight)
    assert reg.item() == pytest.approx(reference_reg.item(), rel=1e-5)
    exact_bound = (v.detach().abs() - math.log(11)).abs() < 1e-4   # h(V) on a clip bound: measure zero
    torch.testing.assert_close(v.grad[~exact_bound], reference_grad[~exact_bound], rtol=1e-5, atol=1e-7)
    assert (v.grad != 0).any() and (v.grad == 0).any()        # both clipped and moving elements


@pytest.mark.parametrize("drop", [0.0, 0.5])
def test_fused_grid_value_gradients_are_the_straight_through_ones(drop):
    """_GridValue against autograd of (clamp(round_ste(x / s) + z, 0, 2^b - 1) - z) * s, mixed
    with x where QDrop keeps the float value."""
    from catdeploy.quant.simulate import _GridValue, round_ste

    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(4, 3, 5, 5, generator=gen) * 2).requires_grad_(True)
    scale = torch.tensor(0.4, requires_grad=True)
    upstream = torch.randn(4, 3, 5, 5, generator=gen)
    keep = torch.rand(x.shape, generator=gen) < drop if drop else None
    zero_point, qmax = 1, 3
    reference = (torch.clamp(round_ste(x / scale) + zero_point, 0, qmax) - zero_point) * scale
    if keep is not None:
        reference = torch.where(keep, x, reference)
    (reference * upstream).sum().backward()
    grads = x.grad.clone(), scale.grad.clone()
    x.grad, scale.grad = None, None
    with torch.no_grad():
        code = torch.round(x / scale)
    y = _GridValue.apply(x, scale, code, zero_point, qmax, keep)
    (y * upstream).sum().backward()
    assert torch.equal(y, reference)
    torch.testing.assert_close(x.grad, grads[0], rtol=1e-6, atol=0)   # autograd's is s * (1 / s)
    torch.testing.assert_close(scale.grad, grads[1], rtol=1e-5, atol=1e-6)
    assert (x.grad == 0).any() and (x.grad != 0).any()     # codes at the clip ends and inside


# ---------------------------------------------------------------------------------------------
# QDrop and the losses
def test_qdrop_keeps_each_value_float_with_the_drop_probability():
    g = tiny_resnet(0)
    qg = api.calibrate(g, api.plan(g, "w4a2"), np.random.default_rng(0).normal(size=(16, 3, 8, 8)).astype(np.float32))
    sim = QuantSimulator(qg)
    value = next(v for v in qg.act_qparams if qg.act_qparams[v].bits == 2)
    x = torch.randn(64, 8, 8, 8) * 3
    quantized = sim.quantize(value, x)
    assert not torch.equal(quantized, x)
    generator = torch.Generator().manual_seed(0)
    for p in (0.0, 0.5, 1.0):
        mixed = sim.quantize(value, x, drop_prob=p, generator=generator)
        is_float = (mixed == x) & (quantized != x)
        is_quant = (mixed == quantized)
        assert torch.all(is_float | is_quant)
        share = is_float.float().sum() / (quantized != x).float().sum()
        assert abs(share.item() - p) < 0.02, (p, share)


def test_prediction_difference_matches_a_hand_computation():
    z_q = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], dtype=torch.float64)
    z_fp = torch.tensor([[2.0, 1.0, 0.0], [0.5, 0.5, 2.0]], dtype=torch.float64)
    t = 4.0
    expect = 0.0
    for q_row, f_row in zip(z_q.tolist(), z_fp.tolist()):
        pq = np.exp(np.array(q_row) / t) / np.exp(np.array(q_row) / t).sum()
        pf = np.exp(np.array(f_row) / t) / np.exp(np.array(f_row) / t).sum()
        expect += float(np.sum(pf * np.log(pf / pq)))
    expect = expect / 2 / 0.1
    assert prediction_difference(z_q, z_fp, t, 0.1).item() == pytest.approx(expect, rel=1e-12)
    assert prediction_difference(z_fp, z_fp, t, 0.1).item() == pytest.approx(0.0, abs=1e-7)


def test_reconstruction_error_sums_channels_and_averages_the_rest():
    a, b = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    assert reconstruction_error(a, b).item() == 3.0


def test_per_architecture_defaults():
    assert hyper_for("resnet18").round_weight == 0.01 and hyper_for("resnet18").temperature == 4.0
    assert hyper_for("mobilenet_v2").round_weight == 0.1 and hyper_for("mobilenet_v2").temperature == 1.0
    assert hyper_for("mnasnet0_5").round_weight == 0.2
    assert hyper_for("regnet_x_400mf").round_weight == 0.01


# ---------------------------------------------------------------------------------------------
# end to end on tiny graphs
@pytest.fixture(scope="module")
def tiny_case():
    g = tiny_mobilenet(1)
    rng = np.random.default_rng(1)
    calib = rng.normal(size=(64, 3, 8, 8)).astype(np.float32)
    qg = api.calibrate(g, api.plan(g, "w2a4"), calib)
    return g, calib, qg


def integer_logits_of(qg, x):
    from catdeploy.integer import integer_logits

    return integer_logits(qg, x)


def layer_errors(qg, g, x) -> dict[str, float]:
    """Squared error of every weighted layer's quantized output (quantized inputs) vs float."""
    sim = QuantSimulator(qg)
    fp = {k: torch.from_numpy(v) for k, v in float_values(g, x).items()}
    out = {}
    with torch.no_grad():
        env = sim.input_values(torch.from_numpy(x))
        for node in g.nodes:
            y = sim.run_node(node, env)
            if node.name in qg.weight_qparams and qg.weight_qparams[node.name].bits < 8:
                out[node.name] = float(reconstruction_error(y, fp[node.output]))
    return out


@pytest.mark.parametrize("method", ["brecq", "qdrop", "pdquant"])
def test_block_methods_halve_the_logit_error(tiny_case, method):
    g, calib, rtn = tiny_case
    qg = reconstruct(rtn, calib, method=method, iterations=200, seed=0)
    fp = float_logits(g, calib)
    err = {k: float(np.mean((integer_logits_of(q, calib) - fp) ** 2)) for k, q in (("rtn", rtn), (method, qg))}
    assert err[method] < 0.5 * err["rtn"], err
    for name, codes in qg.weight_codes.items():
        wq = qg.weight_qparams[name]
        assert all(len(np.unique(c)) <= 2 ** wq.bits for c in codes.reshape(len(codes), -1))
    assert qg.meta["method"] == method and qg.meta["iterations"] == 200
    assert any(qg.act_qparams[v].scale != rtn.act_qparams[v].scale for v in rtn.act_qparams)  # steps learned
    assert all(qg.act_qparams[v].zero_point == rtn.act_qparams[v].zero_point for v in rtn.act_qparams)


def test_adaround_lowers_the_layer_errors_it_optimises(tiny_case):
    g, calib, rtn = tiny_case
    qg = reconstruct(rtn, calib, method="adaround", iterations=200, seed=0)
    before, after = layer_errors(rtn, g, calib), layer_errors(qg, g, calib)
    assert sum(after.values()) < 0.97 * sum(before.values()), (before, after)
    assert sum(after[k] < before[k] for k in before) >= len(before) - 1, (before, after)
    assert qg.act_qparams == rtn.act_qparams  # AdaRound alone keeps the activation grids


def test_same_seed_same_bytes(tiny_case, tmp_path):
    from catdeploy.quant.quantized_graph import save_quantized_graph

    _, calib, rtn = tiny_case
    blobs = []
    for i in range(2):
        qg = reconstruct(rtn, calib, method="qdrop", iterations=20, seed=3)
        save_quantized_graph(qg, tmp_path / f"{i}.qg")
        blobs.append(((tmp_path / f"{i}.qg").read_bytes(), api.export_tflite(api.lower(qg))))
    assert blobs[0] == blobs[1]
    other = reconstruct(rtn, calib, method="qdrop", iterations=20, seed=4)
    assert api.export_tflite(api.lower(other)) != blobs[0][1]


def test_memory_budget_is_enforced(tiny_case):
    from catdeploy.errors import UserError

    _, calib, rtn = tiny_case
    with pytest.raises(UserError, match="budget"):
        reconstruct(rtn, calib, method="brecq", iterations=1, memory_budget=1000)


def test_reconstructed_graph_is_integer_exact_in_every_interpreter(tiny_case):
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.check.verify import verify_model

    _, calib, rtn = tiny_case
    qg = reconstruct(rtn, calib, method="pdquant", iterations=20, seed=0)
    model = api.export_tflite(api.lower(qg))
    reports = verify_model(model, prepare_inputs(model, calib[:16]), available_interpreters(), ["ref"])
    assert reports and all(r.bit_exact for r in reports), [r.to_dict() for r in reports]
    assert np.array_equal(integer_outputs(qg, calib[:16]), run_catrt(model, calib[:16]))


def test_distribution_correction_moves_the_input_towards_the_batchnorm_statistics():
    from catdeploy.quant.recon.engine import _Caches, _pre_activation, distribution_correction

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(6)
            self.fc = torch.nn.Linear(6, 4)

        def forward(self, x):
            return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.bn(self.conv(x))), 1), 1))

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-1, 1)
        net.bn.running_var.uniform_(0.5, 2)
        net.bn.weight.uniform_(0.5, 1.5)
        net.bn.bias.uniform_(-0.5, 0.5)
    g = api.capture(net, 8)
    conv = next(n for n in g.nodes if n.kind == OpKind.CONV2D)
    assert set(conv.params) == {"weight", "bias", "bn_mean", "bn_std"}
    np.testing.assert_array_equal(conv.params["bn_std"], np.abs(net.bn.weight.detach().numpy()))
    x = np.random.default_rng(0).normal(size=(64, 3, 8, 8)).astype(np.float32) * 2 + 1  # off the BN stats
    qg = api.calibrate(g, api.plan(g, "w4a4"), x)
    caches = _Caches(QuantSimulator(qg), torch.from_numpy(x), 1 << 30)
    unit = block_units(g)[0]
    x_fp = caches.fp[unit.inputs[0]]
    params = caches.fp_params[conv.name]

    def distance(inp):
        y = _pre_activation(conv, inp, params)
        return float((y.mean((0, 2, 3)) - params["bn_mean"]).pow(2).mean() + (y.std((0, 2, 3)) - params["bn_std"]).pow(2).mean())

    corrected = distribution_correction(caches, unit, x_fp, steps=200, seed=0)
    assert distance(corrected) < 0.9 * distance(x_fp)
    assert float((corrected - x_fp).pow(2).mean()) < float(x_fp.pow(2).mean())  # a nudge, not a new input
    assert torch.equal(distribution_correction(caches, unit, x_fp, steps=0, seed=0), x_fp)
