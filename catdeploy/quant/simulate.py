"""The quantized-model simulator's training mode: differentiable, for reconstruction.

(Its eval mode, integer-exact, is catdeploy/integer/simulator.py: the lowered program run by catrt,
so simulated logits are the deployed logits bit for bit.)

Training mode (`QuantSimulator.run_nodes`): the same graph, the same quantization points (every
value on its planned grid, every requantized copy on its own grid, int32 biases on s_in * s_w) as
float32 torch with straight-through rounding, so that reconstruction can differentiate through it.
It learns per-tensor activation steps (LSQ-style, zero points fixed) and, per weighted node, either
the hardened codes or AdaRound's soft rounding. Requantization of a weighted op's
accumulators and of requantized copies rounds as the reference kernels do (double rounding,
`requantize_ste`, LEAKY_RELU / PRELU per branch); average pooling as AveragePool's integer
division does (ceil-mode and count_include_pad windows as lowered); what remains
different is the fixed-point detail of ADD / MUL / LUT activations (sub-LSB at their shifts) and
the 31-bit multipliers; `fake_quant_logits` reports that surrogate's accuracy beside the integer
one.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from catdeploy.ir.float_ops import FLOAT_OPS
from catdeploy.ir.float_ops._activation import torch_pads
from catdeploy.ir.graph import Node, OpKind
from catdeploy.ir.validate import infer_shape
from catdeploy.quant.plan import WEIGHTED_OPS
from catdeploy.quant.prelu_alpha import prelu_alpha_grid
from catdeploy.quant.qparams import ActQParams, WeightQParams, container_offset, weight_code_range
from catdeploy.quant.quantized_graph import QuantizedGraph, bias_codes_for


AVERAGE_POOL_OPS = (OpKind.AVG_POOL2D, OpKind.GLOBAL_AVG_POOL)  # lowered to AVERAGE_POOL_2D


# ----------------------------------------------------------------------------------------------
# straight-through primitives
def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round() forward (half to even, like the observers), identity gradient."""
    return x + (torch.round(x) - x).detach()


def round_half_away_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half away from zero (gemmlowp RoundingDivideByPOT's ties), identity gradient."""
    return x + (torch.sign(x) * torch.floor(torch.abs(x) + 0.5) - x).detach()


def requantize_ste(u: torch.Tensor, multiplier: torch.Tensor) -> torch.Tensor:
    """Integer code of u = acc * M as TFLite's reference MultiplyByQuantizedMultiplier rounds it
    (catrt.fixed_point "dr_away"), straight through.

    M = q * 2^e, q in [0.5, 1): for e < 0 the kernel first rounds acc * q * 2^31 / 2^31
    (SaturatingRoundingDoublingHighMul, ties up) and then divides by 2^-e (RoundingDivideByPOT,
    ties away from zero). At low bit widths M is near 1 and the accumulators are small, so this
    double rounding moves a large share of the codes by one step (e.g. 10 % of a 2-bit depthwise
    conv's outputs at 4-bit activations); single rounding would train a different model.
    """
    _, exponent = torch.frexp(multiplier.detach())
    right = torch.clamp(-exponent, 0, 20).to(u.dtype)   # beyond 2^-20 the first rounding is exact
    pot = torch.exp2(right)
    first = u * pot
    first = first + (torch.floor(first + 0.5) - first).detach()
    return round_half_away_ste(first / pot)


def average_pool_ste(mean_codes: torch.Tensor, counts, stored_zero_point: int) -> torch.Tensor:
    """Integer code of a window mean as TFLite's reference AveragePool computes it
    (reference/integer_ops/pooling.h): the stored int8 values (code + stored_zero_point) are summed
    and divided by the cell count with (sum +- count / 2) / count, C integer division, so ties round
    away from zero *of the stored values*. `mean_codes` = window mean in codes; identity gradient."""
    counts = torch.as_tensor(counts, dtype=mean_codes.dtype, device=mean_codes.device)
    total = torch.round(mean_codes * counts) + counts * stored_zero_point
    stored = torch.sign(total) * torch.floor((torch.abs(total) + torch.floor(counts / 2)) / counts)
    exact = stored - stored_zero_point
    return mean_codes + (exact - mean_codes).detach()


def pool_cell_counts(node: Node, x: torch.Tensor):
    """In-image cells of each pooling window (what TFLite divides by), laid out as the lowering
    does (lower/ops/avg_pool2d.py): count_include_pad=True with padding pools the explicitly padded
    map, and ceil_mode windows count only the cells they cover."""
    if node.kind is OpKind.GLOBAL_AVG_POOL:
        return x.shape[2] * x.shape[3]
    include_pad = tuple(node.attrs["padding"]) != (0, 0, 0, 0) and node.attrs.get("count_include_pad", True)
    if include_pad and not node.attrs.get("ceil_mode", False):
        return int(node.attrs["kernel"][0]) * int(node.attrs["kernel"][1])  # lowered as PAD + VALID pool
    (kh, kw), (sh, sw) = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"])
    top, left, bottom, right = node.attrs["padding"]
    h, w = x.shape[2], x.shape[3]
    if include_pad:   # the PAD's cells are image cells of the pooled map
        h, w, top, left, bottom, right = h + top + bottom, w + left + right, 0, 0, 0, 0
    out_h, out_w = infer_shape(node, [tuple(x.shape)])[2:]
    bottom += max(0, (out_h - 1) * sh + kh - (h + top + bottom))
    right += max(0, (out_w - 1) * sw + kw - (w + left + right))
    ones = F.pad(x.new_ones((1, 1, h, w)), torch_pads(top, left, bottom, right))
    return F.avg_pool2d(ones, (kh, kw), (sh, sw), divisor_override=1)


def slope_source_step(node: Node, x: torch.Tensor, input_step: torch.Tensor, alpha_scale: float = 0.0):
    """Real value of one step of what LEAKY_RELU / PRELU requantize, per element: x - z_in
    (step s_in) where x >= 0, and below (x - z_in) times the float32 slope (step alpha * s_in) or
    times PRELU's int8 slope code (step s_in * s_alpha)."""
    if node.kind is OpKind.LEAKY_RELU:
        below = input_step * float(np.float32(node.attrs["negative_slope"]))
    else:
        below = input_step * alpha_scale
    return torch.where(x >= 0, input_step, below)


def rectified_sigmoid(v: torch.Tensor, zeta: float = 1.1, gamma: float = -0.1) -> torch.Tensor:
    """AdaRound's h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1)."""
    return torch.clamp(torch.sigmoid(v) * (zeta - gamma) + gamma, 0.0, 1.0)


class _SoftRounding(torch.autograd.Function):
    """AdaRound's soft weight (clip(floor + h(V), qmin, qmax) - z) * s and, with `beta`, its
    regulariser sum(1 - |2 h(V) - 1|^beta), in one pass with the derivatives formed in the forward
    (in place, no graph of a dozen weight-sized tensors: the large 3x3 convolutions of a
    reconstruction step spent most of their time there). `passes` = s where floor + h stays inside
    (qmin, qmax) for h in (0, 1) (qmin <= floor <= qmax - 1), else 0. Gradients equal autograd's of
    those expressions (torch.clamp passes gradient on the open interval) except where h(V) rounds
    onto a clip bound in float32 (|V| within float error of log 11)."""

    @staticmethod
    def forward(ctx, v, floor, passes, scale, zero_point, qmin, qmax, beta):
        sig = torch.sigmoid(v)
        h = sig.mul(1.2).sub_(0.1).clamp_(0.0, 1.0)              # zeta - gamma = 1.2, gamma = -0.1
        weight = torch.add(floor, h).clamp_(qmin, qmax).sub_(zero_point).mul_(scale)
        # dh/dV = 1.2 sig (1 - sig) where h is not clipped, i.e. where sig (1 - sig) > (1/12)(11/12)
        dh = F.threshold(sig.mul_(1 - sig), 11.0 / 144.0, 0.0)   # without the 1.2 (sig is overwritten)
        if beta is None:
            ctx.save_for_backward(dh.mul_(passes).mul_(1.2))
            ctx.regularised = False
            return weight, torch.zeros((), dtype=v.dtype, device=v.device)
        centred = h.mul_(2).sub_(1).flatten()                     # 2 h - 1 (h is overwritten)
        distance = centred.abs()
        power = distance.pow(beta - 1)
        regulariser = centred.numel() - torch.dot(power, distance)
        dregulariser = torch.copysign(power, centred).view_as(v).mul_(dh).mul_(-2.4 * beta)
        ctx.save_for_backward(dh.mul_(passes).mul_(1.2), dregulariser)
        ctx.regularised = True
        return weight, regulariser

    @staticmethod
    def backward(ctx, grad_weight, grad_regulariser):
        saved = ctx.saved_tensors
        grad = grad_weight * saved[0]
        if ctx.regularised:
            grad.addcmul_(saved[1], grad_regulariser)
        return grad, None, None, None, None, None, None, None


class _GridValue(torch.autograd.Function):
    """y = (clamp(code + z, 0, 2^b - 1) - z) * s for `code` (the integer kernel's rounding of x / s,
    computed without gradient), optionally mixed with the float x where `keep_float` (QDrop).
    Straight-through gradients, exactly the ones autograd gives for round_ste inside torch.clamp
    (whose backward passes on the open interval): dy/dx = 1 where 0 < code + z < 2^b - 1,
    dy/ds = (q - z) - x / s there and q - z elsewhere (LSQ without its gradient scale); kept-float
    elements pass dy/dx = 1 and nothing to s."""

    @staticmethod
    def forward(ctx, x, scale, code, zero_point, qmax, keep_float):
        shifted = code + zero_point
        q = torch.clamp(shifted, 0, qmax) - zero_point
        y = q * scale
        inside = (shifted > 0) & (shifted < qmax)   # torch.clamp's backward: open interval
        if keep_float is not None:
            y = torch.where(keep_float, x, y)
            passes = inside | keep_float
        else:
            passes = inside
        dscale = None
        if ctx.needs_input_grad[1]:
            dscale = q - torch.where(inside, x / scale, 0.0)
            if keep_float is not None:
                dscale = torch.where(keep_float, 0.0, dscale)
        ctx.save_for_backward(passes, dscale)
        return y

    @staticmethod
    def backward(ctx, grad):
        passes, dscale = ctx.saved_tensors
        grad_x = grad * passes if ctx.needs_input_grad[0] else None
        grad_scale = (grad * dscale).sum() if dscale is not None else None
        return grad_x, grad_scale, None, None, None, None


def rectified_sigmoid_inverse(h: np.ndarray, zeta: float = 1.1, gamma: float = -0.1) -> np.ndarray:
    """V with h(V) = h for h in (0, 1): -log((zeta - gamma) / (h - gamma) - 1)."""
    h = np.clip(h, 1e-4, 1 - 1e-4)
    return -np.log((zeta - gamma) / (h - gamma) - 1.0)


def grid_key(qg: QuantizedGraph, value: str) -> str:
    """The tensor whose grid `value` uses: its qparam group, its own (requantized copy), or the
    concatenation output a copy is written onto."""
    plan = qg.plan
    if value in plan.requants:
        return grid_key(qg, plan.grid_of[value]) if value in plan.grid_of else value
    return plan.groups[value]


def qdrop_keep_float(x: torch.Tensor, drop_prob: float,
                     generator: torch.Generator | None) -> torch.Tensor | None:
    """Where QDrop keeps x's float value instead of its quantized one: a boolean mask drawn from
    `generator`, True with probability `drop_prob`; None (no draw) when drop_prob is 0."""
    if drop_prob <= 0:
        return None
    return torch.rand(x.shape, generator=generator, device=x.device) < drop_prob


class QuantSimulator:
    """Trainable view of a QuantizedGraph (see the module docstring).

    Parameters live in `act_scales` ({grid key: scalar tensor}) and `rounding` ({node: V}); the
    caller chooses which require grad. `to_quantized_graph()` hardens them into a new QuantizedGraph.
    """

    def __init__(self, qg: QuantizedGraph, device: str = "cpu"):
        self.qg, self.graph, self.plan, self.device = qg, qg.graph, qg.plan, torch.device(device)
        self.nodes: Mapping[str, Node] = {n.name: n for n in qg.graph.nodes}
        self.act: dict[str, ActQParams] = {}
        for v, qp in qg.act_qparams.items():
            self.act.setdefault(grid_key(qg, v), qp)
        self.act_scales = {k: torch.tensor(np.float32(qp.scale), device=self.device) for k, qp in self.act.items()}
        self.fixed_grids = {grid_key(qg, v) for v in qg.plan.fixed_grids} | {grid_key(qg, v) for v in qg.graph.inputs}
        self.weight_f: dict[str, torch.Tensor] = {}
        self.bias_f: dict[str, torch.Tensor] = {}
        self.codes: dict[str, torch.Tensor] = {}   # current hard codes q - z (float tensor)
        self.rounding: dict[str, torch.Tensor] = {}
        for name, wq in qg.weight_qparams.items():
            node = self.nodes[name]
            self.weight_f[name] = torch.from_numpy(np.asarray(node.params["weight"], np.float32)).to(self.device)
            self.bias_f[name] = torch.from_numpy(np.asarray(node.params["bias"], np.float32)).to(self.device)
            self.codes[name] = torch.from_numpy(qg.weight_codes[name].astype(np.float32)).to(self.device)
        self._grids: dict[str, tuple] = {}
        self._floors: dict[str, torch.Tensor] = {}
        self._passes: dict[str, torch.Tensor] = {}
        self._params: dict[str, dict] = {}     # parameters of the nodes without weights, as tensors
        self.soft_weights: dict[str, torch.Tensor] = {}   # prepare_soft_weights, one step

    # -- weights -------------------------------------------------------------------------------
    def _wshape(self, name: str) -> tuple[int, ...]:
        return (-1,) + (1,) * (self.weight_f[name].ndim - 1)

    def _wgrid(self, name: str) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """(scale, zero point) shaped for broadcasting over the weight, and the code range."""
        if name not in self._grids:
            wq: WeightQParams = self.qg.weight_qparams[name]
            shape = self._wshape(name)
            s = torch.from_numpy(wq.scale.astype(np.float32)).to(self.device).reshape(shape)
            z = torch.from_numpy(wq.zero_point.astype(np.float32)).to(self.device).reshape(shape)
            qmin, qmax = weight_code_range(wq.bits, wq.symmetric)
            self._grids[name] = (s, z, qmin, qmax)
        return self._grids[name]

    def _floor(self, name: str) -> torch.Tensor:
        """floor(W / s) + z, the code AdaRound rounds up from (computed once per node)."""
        if name not in self._floors:
            s, z, _, _ = self._wgrid(name)
            self._floors[name] = torch.floor(self.weight_f[name] / s) + z
        return self._floors[name]

    def _soft_passes(self, name: str) -> torch.Tensor:
        """s where floor + h(V) stays inside the code range for h in (0, 1), else 0."""
        if name not in self._passes:
            s, _, qmin, qmax = self._wgrid(name)
            floor = self._floor(name)
            self._passes[name] = torch.where((floor >= qmin) & (floor <= qmax - 1), s, 0.0)
        return self._passes[name]

    def init_adaround(self, name: str) -> torch.Tensor:
        """AdaRound variable V with h(V) = the fractional part of W / s (soft rounding starts at W)."""
        s, z, _, _ = self._wgrid(name)
        rest = (self.weight_f[name] / s + z - self._floor(name)).cpu().numpy().astype(np.float64)
        v = torch.tensor(rectified_sigmoid_inverse(rest), dtype=torch.float32, device=self.device)
        self.rounding[name] = v
        return v

    def soft_codes(self, name: str) -> torch.Tensor:
        _, z, qmin, qmax = self._wgrid(name)
        return torch.clamp(self._floor(name) + rectified_sigmoid(self.rounding[name]), qmin, qmax) - z

    def harden(self, name: str) -> None:
        """Round up where h(V) >= 0.5 (V >= 0), down elsewhere; drop the soft variable."""
        _, z, qmin, qmax = self._wgrid(name)
        with torch.no_grad():
            up = (self.rounding[name] >= 0).float()
            self.codes[name] = torch.clamp(self._floor(name) + up, qmin, qmax) - z
        del self.rounding[name]

    def weight(self, name: str) -> torch.Tensor:
        if name in self.soft_weights:
            return self.soft_weights[name]
        s, _, _, _ = self._wgrid(name)
        codes = self.soft_codes(name) if name in self.rounding else self.codes[name]
        return codes * s

    def prepare_soft_weights(self, names, beta: float | None) -> torch.Tensor:
        """Soft weights of the nodes `names` (AdaRound variables) for the next forward, and the sum
        of their rounding regularisers at `beta` (0 when beta is None); `clear_soft_weights` after
        the backward pass."""
        total = torch.zeros((), device=self.device)
        for name in names:
            s, z, qmin, qmax = self._wgrid(name)
            w, reg = _SoftRounding.apply(self.rounding[name], self._floor(name), self._soft_passes(name),
                                         s, z, qmin, qmax, beta)
            self.soft_weights[name] = w
            total = total + reg
        return total

    def clear_soft_weights(self) -> None:
        self.soft_weights = {}

    def accumulator_step(self, name: str) -> torch.Tensor:
        """Real value of one int32 accumulator step per output channel: s_in * s_w."""
        s, _, _, _ = self._wgrid(name)
        return self.scale_of(self.plan.node_inputs[name][0]) * s.reshape(-1)

    def bias(self, name: str) -> torch.Tensor:
        """int32 bias on the grid s_in * s_w (round to nearest, straight through)."""
        step = self.accumulator_step(name)
        return round_ste(self.bias_f[name] / step) * step

    # -- activations ---------------------------------------------------------------------------
    def scale_of(self, value: str) -> torch.Tensor:
        return self.act_scales[grid_key(self.qg, value)]

    def quantize(self, value: str, x: torch.Tensor, source_step: torch.Tensor | None = None,
                 pool_counts=None, *, drop_prob: float = 0.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """x on the grid of `value`, rounded as the integer kernel that produces it rounds: with
        `source_step` (real value of one step of the accumulator or source code x is made of) as
        MultiplyByQuantizedMultiplier, with `pool_counts` as AveragePool, else to nearest; with
        `drop_prob` > 0 (QDrop), each element stays float with that probability (`generator`)."""
        key = grid_key(self.qg, value)
        qp = self.act[key]
        scale = self.act_scales[key]
        with torch.no_grad():
            if key in self.fixed_grids or (source_step is None and pool_counts is None):
                code = torch.round(x / scale)
            elif source_step is not None:
                code = requantize_ste(x / scale, source_step / scale)
            else:
                stored_zero_point = qp.zero_point + container_offset(qp.bits)
                code = average_pool_ste(x / scale, pool_counts, stored_zero_point)
        keep_float = qdrop_keep_float(x, drop_prob, generator)
        if not (torch.is_grad_enabled() and (x.requires_grad or scale.requires_grad)):
            y = (torch.clamp(code + qp.zero_point, 0, (1 << qp.bits) - 1) - qp.zero_point) * scale
            return y if keep_float is None else torch.where(keep_float, x, y)
        return _GridValue.apply(x, scale, code, qp.zero_point, (1 << qp.bits) - 1, keep_float)

    def read(self, env: dict, value: str, *, drop_prob: float = 0.0,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """A node input: a value of env, or a requantized copy made from its source (QDrop as in
        `quantize`)."""
        if value in self.plan.requants:
            source = self.plan.requants[value][0]
            return self.quantize(value, env[source], self.scale_of(source), drop_prob=drop_prob, generator=generator)
        return env[value]

    def run_node(self, node: Node, env: dict, *, drop_prob: float = 0.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """The quantized output of `node` on the values of `env` (also stored there); with
        `drop_prob` > 0, QDrop on every quantization point it passes (draws from `generator`)."""
        args = [self.read(env, v, drop_prob=drop_prob, generator=generator)
                for v in self.plan.node_inputs[node.name]]
        step = None
        if node.kind in WEIGHTED_OPS:
            params = {"weight": self.weight(node.name), "bias": self.bias(node.name)}
            step = self.accumulator_step(node.name)
        else:
            if node.name not in self._params:
                self._params[node.name] = {k: torch.from_numpy(np.asarray(v, np.float32)).to(self.device)
                                           for k, v in node.params.items()}
                if node.kind is OpKind.PRELU:   # the int8 slopes the integer graph multiplies by
                    codes, alpha_scale = prelu_alpha_grid(node.attrs["alpha"])
                    self._params[node.name]["alpha"] = torch.from_numpy(
                        codes.astype(np.float32) * np.float32(alpha_scale)).to(self.device)
            params = self._params[node.name]
        y = FLOAT_OPS[node.kind](node, args, params)
        if step is not None:
            step = step.reshape((1, -1) + (1,) * (y.ndim - 2))
        elif node.kind in (OpKind.LEAKY_RELU, OpKind.PRELU):
            alpha_scale = prelu_alpha_grid(node.attrs["alpha"])[1] if node.kind is OpKind.PRELU else 0.0
            step = slope_source_step(node, args[0], self.scale_of(self.plan.node_inputs[node.name][0]), alpha_scale)
        counts = pool_cell_counts(node, args[0]) if node.kind in AVERAGE_POOL_OPS else None
        y = self.quantize(node.output, y, step, counts, drop_prob=drop_prob, generator=generator)
        env[node.output] = y
        return y

    def run_nodes(self, names, env: dict, *, drop_prob: float = 0.0,
                  generator: torch.Generator | None = None) -> dict:
        """`env` with the outputs of the nodes `names` added, run in order (QDrop as in `run_node`)."""
        for name in names:
            self.run_node(self.nodes[name], env, drop_prob=drop_prob, generator=generator)
        return env

    def input_values(self, x: torch.Tensor) -> dict:
        v = self.graph.inputs[0]
        return {v: self.quantize(v, x)}

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        env = self.input_values(x)
        self.run_nodes([n.name for n in self.graph.nodes], env)
        return env[self.graph.outputs[0]]

    # -- result --------------------------------------------------------------------------------
    def to_quantized_graph(self, meta: dict | None = None) -> QuantizedGraph:
        """Hardened codes, learned steps (exact float32, zero points kept), biases re-rounded."""
        for name in list(self.rounding):
            self.harden(name)
        act = {}
        for v, qp in self.qg.act_qparams.items():
            scale = float(np.float32(self.act_scales[grid_key(self.qg, v)].detach().cpu().item()))
            act[v] = replace(qp, scale=scale)
        codes, biases = {}, {}
        for name, wq in self.qg.weight_qparams.items():
            codes[name] = self.codes[name].detach().cpu().numpy().astype(np.int8)
            s_in = act[self.plan.node_inputs[name][0]].scale
            biases[name] = bias_codes_for(np.asarray(self.nodes[name].params["bias"], np.float32), s_in, wq.scale)
        return replace(self.qg, act_qparams=act, weight_codes=codes, bias_codes=biases,
                       meta={**dict(self.qg.meta), **(meta or {})})


# ----------------------------------------------------------------------------------------------
# surrogate (training-mode) logits, reported beside the integer ones
def simulate(qg: QuantizedGraph, x: np.ndarray) -> np.ndarray:
    """Training-mode surrogate logits (hard codes, no QDrop) for float NCHW images `x`."""
    sim = QuantSimulator(qg)
    with torch.no_grad():
        return sim.logits(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()


def simulate_batches(qg: QuantizedGraph, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Surrogate logits in batches; with qg.cat, CAT applied in float on them."""
    sim = QuantSimulator(qg)
    with torch.no_grad():
        logits = np.concatenate([
            sim.logits(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], np.float32))).numpy()
            for i in range(0, len(x), batch_size)])
    if qg.cat is not None:
        from catdeploy.quant.cat_params import CatParams

        logits = CatParams.from_archive(qg.cat, qg.cat).apply(logits).astype(np.float32)
    return logits

