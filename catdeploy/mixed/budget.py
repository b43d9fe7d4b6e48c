"""What mixed precision chooses and what it costs: the layers a budget covers, their weight storage
and BOPs, `--bits auto:wXaY` parsed, and chosen widths as the plan's per-layer overrides.

Units. Every weighted layer (conv, depthwise, FC) that the convention quantizes below 8 bit at the
lowest width is a *layer of the budget*: its weights get a width, and (where the convention reads
its input below 8 bit) so does the activation it reads. The activation width is the reader's:
a tensor read by several layers takes the widest of their widths and the narrower readers get a
requantized copy, as in every plan (quant/plan.py). The layers the convention keeps at 8 bit (the
stem, the classifier, squeeze-excitation convs under the default convention) stay outside.

Costs over the layers of the budget (HAWQ-V3's definitions):
  weight storage = sum of parameters x weight bits             <= X bits per parameter
  BOPs           = sum of MACs x weight bits x input act bits  <= X x Y per MAC
where a layer whose input the convention keeps at 8 bit counts X x 8 per MAC in the BOPs budget
(its input is outside the budget, as the convention's 8-bit layers are): uniform wXaY meets
`auto:wXaY` exactly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Mapping

from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph, Node, OpKind
from catdeploy.quant.auto_bits import CANDIDATE_BITS, AutoBits, is_auto, parse_auto  # noqa: F401 (re-exported)
from catdeploy.quant.options import CalibrationOptions, plan_for
from catdeploy.quant.plan import WEIGHTED_OPS, QuantPlan

@dataclass(frozen=True)
class BudgetLayer:
    """A weighted layer of the budget: its parameters, MACs per image, and which of its two
    widths the search chooses (the weights always; the input activation where the convention
    reads it below 8 bit)."""

    name: str
    params: int
    macs: int
    act_unit: bool


@dataclass(frozen=True)
class Widths:
    """Chosen widths: {layer: weight bits}, {layer: bits it reads its input at}."""

    weights: Mapping[str, int]
    acts: Mapping[str, int]

    def to_dict(self) -> dict:
        return {"weights": dict(self.weights), "activations": dict(self.acts)}


@dataclass(frozen=True)
class Cost:
    """Average weight bits per parameter and BOPs per MAC (weight bits x activation bits) of the
    layers of the budget."""

    weight_bits: float
    bops_per_mac: float
    weight_storage_bits: int = 0
    bops: int = 0

    def within(self, x: float, y: float, layers: list["BudgetLayer"]) -> bool:
        return (self.weight_bits <= x + 1e-9
                and self.bops <= bops_budget(layers, x, y) * (1 + 1e-12) + 1e-6)

    def to_dict(self) -> dict:
        return {"weight_bits_per_parameter": round(self.weight_bits, 6), "bops_per_mac": round(self.bops_per_mac, 6),
                "weight_storage_bits": self.weight_storage_bits, "bops": self.bops}


def macs_of(graph: Graph, node: Node) -> int:
    """Multiply-accumulates of one image through a weighted node (output elements x taps)."""
    weight = node.params["weight"]
    out_shape = graph.values[node.output].shape
    if node.kind == OpKind.LINEAR:
        return int(weight.shape[0] * weight.shape[1])
    spatial = int(out_shape[2] * out_shape[3]) if len(out_shape) == 4 else 1
    return int(weight.size) * spatial   # [OC, IC/groups, KH, KW]: OC x taps per output pixel


def input_bits(plan: QuantPlan, node_name: str) -> int:
    """The bits a node reads its first input at (its requantized copy's, where it has one)."""
    value = plan.node_inputs[node_name][0]
    return plan.requants[value][1] if value in plan.requants else plan.values[value]


def budget_layers(graph: Graph, options: CalibrationOptions) -> list[BudgetLayer]:
    """The layers of the budget, in graph order (module docstring), under `options`' convention."""
    lowest = plan_for(graph, replace(options, bits="w2a2", weight_overrides={}, act_overrides={}, max_drop=None))
    layers = []
    for node in graph.nodes:
        if node.kind in WEIGHTED_OPS and lowest.weights[node.name] < 8:
            layers.append(BudgetLayer(node.name, int(node.params["weight"].size), macs_of(graph, node),
                                      act_unit=input_bits(lowest, node.name) < 8))
    if not layers:
        raise UserError("mixed precision: the convention keeps every layer of this model at 8 bit; nothing to choose")
    return layers


def cost_of(layers: list[BudgetLayer], widths: Widths) -> Cost:
    """Storage and BOPs of `widths` over the layers of the budget (a layer's input activation
    outside the search counts at 8 bit)."""
    storage = sum(layer.params * widths.weights[layer.name] for layer in layers)
    bops = sum(layer.macs * widths.weights[layer.name] * widths.acts.get(layer.name, 8) for layer in layers)
    params = sum(layer.params for layer in layers)
    macs = sum(layer.macs for layer in layers)
    return Cost(storage / params, bops / macs, storage, bops)


def bops_budget(layers: list[BudgetLayer], x: float, y: float) -> float:
    """The BOPs `auto:wXaY` allows: X x Y per MAC of the layers whose input is in the budget, X x 8
    per MAC of those whose input the convention keeps at 8 bit."""
    return float(sum(layer.macs * x * (y if layer.act_unit else 8) for layer in layers))


def uniform_widths(layers: list[BudgetLayer], weight_bits: int, act_bits: int) -> Widths:
    """Every layer of the budget at the same widths."""
    return Widths({layer.name: weight_bits for layer in layers},
                  {layer.name: act_bits for layer in layers if layer.act_unit})


def exact_glob(name: str) -> str:
    """A node name as an fnmatch pattern that matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def options_for(options: CalibrationOptions, widths: Widths, floor: tuple[int, int] | None = None) -> CalibrationOptions:
    """`options` with `widths` as per-layer overrides. The base setting (what the layers outside
    the budget that the convention sets at the configured bits get, e.g. a strict convention's
    ADD inputs) is `floor` (default w8a8)."""
    w_floor, a_floor = floor or (8, 8)
    return replace(options, bits=f"w{w_floor}a{a_floor}", max_drop=None,
                   weight_overrides={exact_glob(k): v for k, v in widths.weights.items()},
                   act_overrides={exact_glob(k): v for k, v in widths.acts.items()})


def widest_candidate_at_most(value: float) -> int:
    """The widest candidate width <= value (at least the narrowest)."""
    fitting = [b for b in CANDIDATE_BITS if b <= value + 1e-9]
    return fitting[-1] if fitting else CANDIDATE_BITS[0]


@dataclass(frozen=True)
class MixedChoice:
    """What the search chose and why: stored in the .qg's meta, the manifest and `inspect`."""

    request: str
    widths: Widths
    cost: Cost
    held_out: Mapping[str, float] = field(default_factory=dict)   # top1 / kl of the chosen widths
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"request": self.request, **self.widths.to_dict(), "cost": self.cost.to_dict(),
                "held_out": dict(self.held_out), "notes": list(self.notes)}
