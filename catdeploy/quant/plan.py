"""QuantPlan: which bits every weight and activation tensor gets, derived from rules on the Graph.

Default convention (docs/benchmarks.md): weights at the configured bits except the first conv and the
last fully connected layer (8 bit); activations at the configured bits where a conv reads them;
the FC input, tensors read by a residual ADD, the network input and the logits at 8 bit. A "strict"
plan uses the configured bits everywhere except the network input and the logits.

A tensor has one grid. Ops that pass values through without requantizing (pooling, flatten, pad,
standalone ReLU, channel shuffle, slices, concatenation) share their input's grid, so their inputs
and outputs form one *qparam group*; the group takes the widest width any reader needs. A reader
that needs fewer bits than its group gets a *requantized copy* of the value (an int8 -> int8
QUANTIZE in the integer graph).

Concatenation: the output's group takes in the inputs whose producer requantizes anyway (a conv,
ADD, MUL, ... read by nothing else), so they are written straight into the concatenated grid;
every other input (a slice, a pooled or shared value, a graph input) gets a requantized copy on
the output's grid (`grid_of`), because TFLite's int8 CONCATENATION needs equal qparams.

Bounded activations (`fixed_grids`): SIGMOID outputs get TFLite LOGISTIC's fixed int8 grid
(scale 1/256, real 0 at -128; always 8 bit), HARDSIGMOID outputs the grid of [0, 1] at their width.
Squeeze-excitation (`se_path`): the values between a global pool and the sigmoid / hard-sigmoid
gate that a MUL applies (1x1 maps read by one node each) and the weights of the 1x1 convs on that
path are 8 bit by default (configured bits with `strict`).
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph, OpKind
from catdeploy.quant.observers import OBSERVERS
from catdeploy.quant.qparams import BIT_SETTINGS

# Ops whose output shares the input's grid (TFLite assumes equal qparams for these).
SHARED_GRID_OPS = frozenset({
    OpKind.GLOBAL_AVG_POOL, OpKind.AVG_POOL2D, OpKind.MAX_POOL2D, OpKind.FLATTEN, OpKind.PAD,
    OpKind.RELU, OpKind.RELU6, OpKind.CONCAT, OpKind.CHANNEL_SHUFFLE, OpKind.SLICE,
})
# Outputs with a grid fixed by the op's range: name of the rule (quant/observers.py FIXED_GRIDS).
FIXED_GRID_OPS = {OpKind.SIGMOID: "logistic", OpKind.HARDSIGMOID: "unit_interval"}
GATE_OPS = frozenset({OpKind.SIGMOID, OpKind.HARDSIGMOID})
WEIGHTED_OPS = frozenset({OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D, OpKind.LINEAR})
CONVENTIONS = ("default", "paper", "strict")


@dataclass(frozen=True)
class QuantPlan:
    setting: str                               # e.g. "w4a4"
    weight_bits_default: int
    act_bits_default: int
    strict: bool
    symmetric_weights: bool
    observer: str                              # "lp" | "minmax"
    weights: Mapping[str, int]                 # weighted node name -> weight bits
    weight_symmetric: Mapping[str, bool]       # weighted node name -> symmetric grid
    values: Mapping[str, int]                  # value name -> bits of its tensor
    groups: Mapping[str, str]                  # value name -> representative of its qparam group
    requants: Mapping[str, tuple[str, int]]    # derived value -> (source value, bits)
    node_inputs: Mapping[str, tuple[str, ...]]  # node name -> inputs, requantized copies substituted
    first_conv: str | None = None
    last_linear: str | None = None
    overrides: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    grid_of: Mapping[str, str] = field(default_factory=dict)     # requantized copy -> value whose grid it takes
    fixed_grids: Mapping[str, str] = field(default_factory=dict)  # value -> bounded-range rule
    se_path: tuple[str, ...] = ()                                 # squeeze-excitation values (sorted)
    convention: str = "default"                                   # default | paper | strict

    def __post_init__(self) -> None:
        object.__setattr__(self, "se_path", tuple(self.se_path))
        for name in ("weights", "weight_symmetric", "values", "groups", "requants", "node_inputs", "overrides",
                     "grid_of", "fixed_grids"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def to_dict(self) -> dict:
        return {
            "setting": self.setting, "weight_bits_default": self.weight_bits_default,
            "act_bits_default": self.act_bits_default, "strict": self.strict, "convention": self.convention,
            "symmetric_weights": self.symmetric_weights, "observer": self.observer,
            "weights": dict(self.weights), "weight_symmetric": dict(self.weight_symmetric),
            "values": dict(self.values), "groups": dict(self.groups),
            "requants": {k: list(v) for k, v in self.requants.items()},
            "node_inputs": {k: list(v) for k, v in self.node_inputs.items()},
            "first_conv": self.first_conv, "last_linear": self.last_linear,
            "overrides": {k: dict(v) for k, v in self.overrides.items()},
            "grid_of": dict(self.grid_of), "fixed_grids": dict(self.fixed_grids),
            "se_path": list(self.se_path),
        }

    @staticmethod
    def from_dict(d: dict) -> "QuantPlan":
        return QuantPlan(
            setting=d["setting"], weight_bits_default=int(d["weight_bits_default"]),
            act_bits_default=int(d["act_bits_default"]), strict=bool(d["strict"]),
            convention=str(d.get("convention", "strict" if d["strict"] else "default")),
            symmetric_weights=bool(d["symmetric_weights"]), observer=d["observer"],
            weights={k: int(v) for k, v in d["weights"].items()},
            weight_symmetric={k: bool(v) for k, v in d["weight_symmetric"].items()},
            values={k: int(v) for k, v in d["values"].items()},
            groups=dict(d["groups"]),
            requants={k: (v[0], int(v[1])) for k, v in d["requants"].items()},
            node_inputs={k: tuple(v) for k, v in d["node_inputs"].items()},
            first_conv=d.get("first_conv"), last_linear=d.get("last_linear"),
            overrides={k: {kk: int(vv) for kk, vv in v.items()} for k, v in d.get("overrides", {}).items()},
            grid_of=dict(d.get("grid_of", {})), fixed_grids=dict(d.get("fixed_grids", {})),
            se_path=tuple(d.get("se_path", ())),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)


def parse_bits(bits: str) -> tuple[int, int]:
    """'wXaY' -> (X, Y), weight and activation widths in 2..8 (w4a8, w3a3, ... as well as the
    five settings of the benchmark tables, BIT_SETTINGS)."""
    key = str(bits).strip().lower()
    if key in BIT_SETTINGS:
        return BIT_SETTINGS[key]
    match = re.fullmatch(r"w([2-8])a([2-8])", key)
    if match is None:
        raise UserError(f"--bits {bits!r} is not wXaY with X, Y in 2..8 (e.g. {', '.join(BIT_SETTINGS)}, w3a3, w4a8)")
    return int(match.group(1)), int(match.group(2))


def _check_bits(value: int, what: str) -> int:
    if not isinstance(value, int) or not 2 <= value <= 8:
        raise UserError(f"{what}: bit width {value!r} out of range (2..8)")
    return value


def _match(overrides: Mapping[str, int], name: str) -> int | None:
    found = None
    for pattern, bits in overrides.items():
        if fnmatch.fnmatchcase(name, pattern):
            found = bits
    return found


class _UnionFind:
    def __init__(self, names):
        self.parent = {n: n for n in names}

    def find(self, n: str) -> str:
        while self.parent[n] != n:
            self.parent[n] = self.parent[self.parent[n]]
            n = self.parent[n]
        return n

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Keep the earlier (upstream) value as representative: deterministic.
            self.parent[rb] = ra


def make_plan(
    graph: Graph,
    bits: str = "w4a4",
    *,
    strict: bool = False,
    symmetric_weights: bool = False,
    observer: str = "lp",
    weight_overrides: Mapping[str, int] | None = None,
    act_overrides: Mapping[str, int] | None = None,
    convention: str = "default",
) -> QuantPlan:
    """Plan bit widths for every weight and tensor of `graph` (see module docstring).

    convention: "default", "strict" (the same as strict=True) or "paper": the default, except that
    an ADD reads a value that other nodes also read (a block output on the skip path) at the
    activation bits, as the BRECQ / QDrop / PD-Quant convention does; the pre-add outputs of
    weighted layers read by the ADD alone stay 8 bit (the papers keep them in float).

    weight_overrides: {node-name glob: weight bits}; act_overrides: {node-name glob: bits that node
    reads its inputs at}. Later patterns win.
    """
    w_bits, a_bits = parse_bits(bits)
    if convention not in CONVENTIONS:
        raise UserError(f"--convention {convention!r} is not one of {', '.join(CONVENTIONS)}")
    if strict and convention == "paper":
        raise UserError("--strict and --convention paper exclude each other")
    strict = strict or convention == "strict"
    paper = convention == "paper"
    if observer not in OBSERVERS:
        raise UserError(f"observer {observer!r} is not one of {', '.join(OBSERVERS)}")
    weight_overrides = {k: _check_bits(v, f"weight override {k}") for k, v in (weight_overrides or {}).items()}
    act_overrides = {k: _check_bits(v, f"activation override {k}") for k, v in (act_overrides or {}).items()}

    weighted = [n for n in graph.nodes if n.kind in WEIGHTED_OPS]
    convs = [n for n in weighted if n.kind in (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D)]
    linears = [n for n in weighted if n.kind == OpKind.LINEAR]
    first_conv = convs[0].name if convs else None
    # The classifier: the LINEAR producing a graph output, else the last LINEAR.
    heads = [n for n in linears if any(o in graph.outputs for o in n.outputs)]
    last_linear = (heads or linears or [None])[-1]
    last_linear = last_linear.name if last_linear is not None else None

    counts: dict[str, int] = {}
    for n in graph.nodes:
        for v in n.inputs:
            counts[v] = counts.get(v, 0) + 1
    for v in graph.outputs:
        counts[v] = counts.get(v, 0) + 1
    producer_of = {v: n for n in graph.nodes for v in n.outputs}
    se_path = squeeze_excitation_values(graph, producer_of, counts)

    weights: dict[str, int] = {}
    weight_symmetric: dict[str, bool] = {}
    for n in weighted:
        b = w_bits
        if not strict and (n.name in (first_conv, last_linear) or n.output in se_path):
            b = 8
        override = _match(weight_overrides, n.name)
        if override is not None:
            b = override
        weights[n.name] = b
        # An asymmetric 8-bit grid (q - z up to 255) does not fit an int8 container.
        weight_symmetric[n.name] = symmetric_weights or b == 8

    uf = _UnionFind(graph.values)
    copied_inputs: dict[str, list[str]] = {}   # CONCAT node -> inputs that get a copy on its grid
    for n in graph.nodes:
        if n.kind == OpKind.CONCAT:
            copied_inputs[n.name] = []
            for v in n.inputs:
                if _writes_own_grid(graph, producer_of.get(v), v, counts):
                    uf.union(n.output, v)
                else:
                    copied_inputs[n.name].append(v)
        elif n.kind in SHARED_GRID_OPS:
            for v in n.inputs[1:]:
                uf.union(n.inputs[0], v)
            for v in n.outputs:
                uf.union(n.inputs[0], v)
    fixed_grids = {n.output: FIXED_GRID_OPS[n.kind] for n in graph.nodes if n.kind in FIXED_GRID_OPS}

    def reader_need(node, value: str) -> int:
        override = _match(act_overrides, node.name)
        if override is not None:
            return override
        if value in graph.inputs:
            return 8
        if value in se_path and not strict:
            return 8
        if node.kind in (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D):
            return a_bits
        if node.kind == OpKind.LINEAR:
            return a_bits if strict else 8
        if paper and node.kind == OpKind.ADD:
            producer = producer_of.get(value)
            pre_add = producer is not None and producer.kind in WEIGHTED_OPS and counts.get(value, 0) == 1
            return 8 if pre_add else a_bits
        # ADD, MUL and other multi-input arithmetic: "pre-add" tensors are 8 bit by default.
        return a_bits if strict else 8

    group_bits: dict[str, int] = {}
    needs: list[tuple[str, int, str]] = []  # (node name, input index, need)
    for n in graph.nodes:
        if n.kind in SHARED_GRID_OPS:
            continue
        for i, v in enumerate(n.inputs):
            need = reader_need(n, v)
            needs.append((n.name, i, need))
            g = uf.find(v)
            group_bits[g] = max(group_bits.get(g, 0), need)
    for v in graph.outputs:
        g = uf.find(v)
        group_bits[g] = max(group_bits.get(g, 0), 8)
    for v in graph.inputs:
        group_bits[uf.find(v)] = 8
    for v, rule in fixed_grids.items():
        if rule == "logistic":  # TFLite LOGISTIC writes scale 1/256: 8 bit whatever reads it
            group_bits[uf.find(v)] = 8
    values = {}
    for v in graph.values:
        g = uf.find(v)
        values[v] = group_bits.get(g, a_bits)

    requants: dict[str, tuple[str, int]] = {}
    node_inputs: dict[str, tuple[str, ...]] = {}
    need_by_input = {(name, i): need for name, i, need in needs}
    for n in graph.nodes:
        inputs = list(n.inputs)
        for i, v in enumerate(n.inputs):
            need = need_by_input.get((n.name, i))
            if need is not None and need < values[v]:
                derived = f"{v}@a{need}"
                requants[derived] = (v, need)
                inputs[i] = derived
        node_inputs[n.name] = tuple(inputs)
    grid_of: dict[str, str] = {}
    for n in graph.nodes:
        if n.kind != OpKind.CONCAT:
            continue
        inputs = list(n.inputs)
        for i, v in enumerate(n.inputs):
            if v in copied_inputs[n.name] and uf.find(v) != uf.find(n.output):
                derived = f"{v}@{n.name}"
                requants[derived] = (v, values[n.output])
                grid_of[derived] = n.output
                inputs[i] = derived
        node_inputs[n.name] = tuple(inputs)

    return QuantPlan(
        setting=bits.lower(), weight_bits_default=w_bits, act_bits_default=a_bits, strict=strict,
        symmetric_weights=symmetric_weights, observer=observer, weights=weights,
        weight_symmetric=weight_symmetric, values=values,
        groups={v: uf.find(v) for v in graph.values}, requants=requants, node_inputs=node_inputs,
        first_conv=first_conv, last_linear=last_linear,
        overrides={"weights": dict(weight_overrides), "activations": dict(act_overrides)},
        grid_of=grid_of, fixed_grids=fixed_grids, se_path=tuple(sorted(se_path)),
        convention="strict" if strict else convention,
    )


def squeeze_excitation_values(graph: Graph, producer_of, counts) -> set[str]:
    """Values of squeeze-excitation scale paths: from each SIGMOID / HARDSIGMOID output that a MUL
    reads, backwards through values with a 1x1 spatial map (or rank 2) read by one node only: the
    gate, the 1x1 convs and their activations, the global pool's output. Stops at the feature map
    being scaled (read twice: by the pool or first conv, and by the MUL)."""
    found: set[str] = set()
    for mul in graph.nodes:
        if mul.kind != OpKind.MUL:
            continue
        for gate in mul.inputs:
            gate_producer = producer_of.get(gate)
            if gate_producer is None or gate_producer.kind not in GATE_OPS:
                continue
            pending = [gate]
            while pending:
                v = pending.pop()
                if v in found:
                    continue
                found.add(v)
                producer = producer_of.get(v)
                if producer is None:
                    continue
                for w in producer.inputs:
                    shape = graph.values[w].shape
                    pooled = len(shape) == 2 or (len(shape) == 4 and shape[2] == shape[3] == 1)
                    if pooled and counts.get(w, 0) == 1 and w not in graph.inputs:
                        pending.append(w)
    return found


def _writes_own_grid(graph: Graph, producer, value: str, counts) -> bool:
    """True when `value` can be written straight into a concatenation's grid: its producer
    requantizes into any grid it is given (not a grid-sharing or fixed-grid op), and nothing else
    reads it."""
    return (producer is not None and producer.kind not in SHARED_GRID_OPS
            and producer.kind not in FIXED_GRID_OPS and counts.get(value, 0) == 1
            and value not in graph.outputs)
