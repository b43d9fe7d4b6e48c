"""QuantPlan: which bits every weight and activation tensor gets, derived from rules on the Graph.

Default convention (docs/benchmarks.md): weights at the configured bits except the first conv and the
last fully connected layer (8 bit); activations at the configured bits where a conv reads them;
the FC input, tensors read by a residual ADD, the network input and the logits at 8 bit. A "strict"
plan uses the configured bits everywhere except the network input and the logits.

A tensor has one grid. Ops that pass values through without requantizing (pooling, flatten, pad,
standalone ReLU and clamps, channel shuffle, slices, concatenation) share their input's grid, so their inputs
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
from catdeploy.ir.graph import Graph, Node, OpKind
from catdeploy.ir.queries import classifier_candidate
from catdeploy.quant.observers import OBSERVERS
from catdeploy.quant.qparams import BIT_SETTINGS

# Ops whose output shares the input's grid (TFLite assumes equal qparams for these).
SHARED_GRID_OPS = frozenset({
    OpKind.GLOBAL_AVG_POOL, OpKind.AVG_POOL2D, OpKind.MAX_POOL2D, OpKind.FLATTEN, OpKind.PAD,
    OpKind.RELU, OpKind.RELU6, OpKind.CONCAT, OpKind.CHANNEL_SHUFFLE, OpKind.SLICE, OpKind.CLAMP,
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


@dataclass(frozen=True)
class _Settings:
    """make_plan's options, checked: the widths, the convention and the override globs."""

    weight_bits: int
    act_bits: int
    strict: bool
    paper: bool
    symmetric_weights: bool
    weight_overrides: Mapping[str, int]
    act_overrides: Mapping[str, int]


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
    settings = _checked_settings(bits, strict, symmetric_weights, observer, weight_overrides, act_overrides,
                                 convention)
    first_conv, last_linear = _first_conv(graph), classifier_candidate(graph)
    landmarks = tuple(n.name for n in (first_conv, last_linear) if n is not None)
    counts = _reader_counts(graph)
    se_path = squeeze_excitation_values(graph, counts)
    weights, weight_symmetric = _weight_bits(graph, settings, landmarks, se_path)
    groups, copied_inputs = _qparam_groups(graph, counts)
    fixed_grids = _fixed_grids(graph)
    needs = _input_needs(graph, settings, counts, se_path)
    values = _value_bits(graph, groups, needs, fixed_grids, settings.act_bits)
    reader_requants, reader_inputs = _reader_copies(graph, values, needs)
    concat_requants, concat_inputs, grid_of = _concat_copies(graph, groups, copied_inputs, values)
    return QuantPlan(
        setting=bits.lower(), weight_bits_default=settings.weight_bits, act_bits_default=settings.act_bits,
        strict=settings.strict, symmetric_weights=symmetric_weights, observer=observer, weights=weights,
        weight_symmetric=weight_symmetric, values=values, groups=groups,
        requants={**reader_requants, **concat_requants}, node_inputs={**reader_inputs, **concat_inputs},
        first_conv=first_conv.name if first_conv is not None else None,
        last_linear=last_linear.name if last_linear is not None else None,
        overrides={"weights": dict(settings.weight_overrides), "activations": dict(settings.act_overrides)},
        grid_of=grid_of, fixed_grids=fixed_grids, se_path=tuple(sorted(se_path)),
        convention="strict" if settings.strict else convention,
    )


def _checked_settings(bits: str, strict: bool, symmetric_weights: bool, observer: str,
                      weight_overrides: Mapping[str, int] | None, act_overrides: Mapping[str, int] | None,
                      convention: str) -> _Settings:
    """make_plan's options as a _Settings record; a UserError for the first one out of range."""
    w_bits, a_bits = parse_bits(bits)
    if convention not in CONVENTIONS:
        raise UserError(f"--convention {convention!r} is not one of {', '.join(CONVENTIONS)}")
    if strict and convention == "paper":
        raise UserError("--strict and --convention paper exclude each other")
    if observer not in OBSERVERS:
        raise UserError(f"observer {observer!r} is not one of {', '.join(OBSERVERS)}")
    return _Settings(
        weight_bits=w_bits, act_bits=a_bits, strict=strict or convention == "strict", paper=convention == "paper",
        symmetric_weights=symmetric_weights,
        weight_overrides={k: _check_bits(v, f"weight override {k}") for k, v in (weight_overrides or {}).items()},
        act_overrides={k: _check_bits(v, f"activation override {k}") for k, v in (act_overrides or {}).items()},
    )


def _first_conv(graph: Graph) -> Node | None:
    """The first CONV2D / DEPTHWISE_CONV2D of the graph (the stem), or None."""
    return next((n for n in graph.nodes if n.kind in (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D)), None)


def _reader_counts(graph: Graph) -> dict[str, int]:
    """{value: how often it is read}, counting each node input and each graph output once."""
    counts: dict[str, int] = {}
    for n in graph.nodes:
        for v in n.inputs:
            counts[v] = counts.get(v, 0) + 1
    for v in graph.outputs:
        counts[v] = counts.get(v, 0) + 1
    return counts


def _weight_bits(graph: Graph, settings: _Settings, landmarks: tuple[str, ...],
                 se_path: set[str]) -> tuple[dict[str, int], dict[str, bool]]:
    """({weighted node: weight bits}, {weighted node: symmetric grid}): 8 bit for the first conv,
    the classifier (`landmarks`) and the squeeze-excitation convs unless strict; overrides win."""
    weights: dict[str, int] = {}
    weight_symmetric: dict[str, bool] = {}
    for n in graph.nodes:
        if n.kind not in WEIGHTED_OPS:
            continue
        b = settings.weight_bits
        if not settings.strict and (n.name in landmarks or n.output in se_path):
            b = 8
        override = _match(settings.weight_overrides, n.name)
        if override is not None:
            b = override
        weights[n.name] = b
        # An asymmetric 8-bit grid (q - z up to 255) does not fit an int8 container.
        weight_symmetric[n.name] = settings.symmetric_weights or b == 8
    return weights, weight_symmetric


def _qparam_groups(graph: Graph, counts: Mapping[str, int]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """({value: representative of its qparam group}, {CONCAT node: inputs that get a copy on its
    grid}): grid-sharing ops join their inputs and outputs, a CONCAT the inputs written into its grid."""
    uf = _UnionFind(graph.values)
    copied_inputs: dict[str, list[str]] = {}
    for n in graph.nodes:
        if n.kind == OpKind.CONCAT:
            copied_inputs[n.name] = []
            for v in n.inputs:
                if _writes_own_grid(graph, v, counts):
                    uf.union(n.output, v)
                else:
                    copied_inputs[n.name].append(v)
        elif n.kind in SHARED_GRID_OPS:
            for v in n.inputs[1:]:
                uf.union(n.inputs[0], v)
            for v in n.outputs:
                uf.union(n.inputs[0], v)
    return {v: uf.find(v) for v in graph.values}, copied_inputs


def _fixed_grids(graph: Graph) -> dict[str, str]:
    """{output of a bounded activation: its grid rule} (FIXED_GRID_OPS)."""
    return {n.output: FIXED_GRID_OPS[n.kind] for n in graph.nodes if n.kind in FIXED_GRID_OPS}


def _reader_need(graph: Graph, settings: _Settings, counts: Mapping[str, int], se_path: set[str],
                 node: Node, value: str) -> int:
    """The bits `node` reads `value` at (the convention's rules; an activation override wins)."""
    override = _match(settings.act_overrides, node.name)
    if override is not None:
        return override
    if value in graph.inputs:
        return 8
    if value in se_path and not settings.strict:
        return 8
    if node.kind in (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D):
        return settings.act_bits
    if node.kind == OpKind.LINEAR:
        return settings.act_bits if settings.strict else 8
    if settings.paper and node.kind == OpKind.ADD:
        producer = graph.producer(value)
        pre_add = producer is not None and producer.kind in WEIGHTED_OPS and counts.get(value, 0) == 1
        return 8 if pre_add else settings.act_bits
    # ADD, MUL and other multi-input arithmetic: "pre-add" tensors are 8 bit by default.
    return settings.act_bits if settings.strict else 8


def _input_needs(graph: Graph, settings: _Settings, counts: Mapping[str, int],
                 se_path: set[str]) -> dict[tuple[str, int], int]:
    """{(node, input index): bits it reads that input at}, for every node that requantizes
    (grid-sharing ops read their input's grid as it is)."""
    return {(n.name, i): _reader_need(graph, settings, counts, se_path, n, v)
            for n in graph.nodes if n.kind not in SHARED_GRID_OPS for i, v in enumerate(n.inputs)}


def _value_bits(graph: Graph, groups: Mapping[str, str], needs: Mapping[tuple[str, int], int],
                fixed_grids: Mapping[str, str], act_bits: int) -> dict[str, int]:
    """{value: bits of its tensor}: the widest need in its qparam group; 8 for the network input,
    the outputs and LOGISTIC outputs; the activation bits where nothing reads the group."""
    group_bits: dict[str, int] = {}
    for n in graph.nodes:
        for i, v in enumerate(n.inputs):
            need = needs.get((n.name, i))
            if need is not None:
                group_bits[groups[v]] = max(group_bits.get(groups[v], 0), need)
    for v in graph.outputs:
        g = groups[v]
        group_bits[g] = max(group_bits.get(g, 0), 8)
    for v in graph.inputs:
        group_bits[groups[v]] = 8
    for v, rule in fixed_grids.items():
        if rule == "logistic":  # TFLite LOGISTIC writes scale 1/256: 8 bit whatever reads it
            group_bits[groups[v]] = 8
    return {v: group_bits.get(groups[v], act_bits) for v in graph.values}


def _reader_copies(graph: Graph, values: Mapping[str, int], needs: Mapping[tuple[str, int], int],
                   ) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, ...]]]:
    """({copy "v@aN": (v, N)}, {node: inputs with the copies substituted}): a reader that needs
    fewer bits than its input's group reads a requantized copy."""
    requants: dict[str, tuple[str, int]] = {}
    node_inputs: dict[str, tuple[str, ...]] = {}
    for n in graph.nodes:
        inputs = list(n.inputs)
        for i, v in enumerate(n.inputs):
            need = needs.get((n.name, i))
            if need is not None and need < values[v]:
                derived = f"{v}@a{need}"
                requants[derived] = (v, need)
                inputs[i] = derived
        node_inputs[n.name] = tuple(inputs)
    return requants, node_inputs


def _concat_copies(graph: Graph, groups: Mapping[str, str], copied_inputs: Mapping[str, list[str]],
                   values: Mapping[str, int],
                   ) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, ...]], dict[str, str]]:
    """({copy "v@concat": (v, bits)}, {CONCAT node: its inputs with the copies substituted},
    {copy: the CONCAT output whose grid it takes}) for the inputs not written into the CONCAT's grid."""
    requants: dict[str, tuple[str, int]] = {}
    node_inputs: dict[str, tuple[str, ...]] = {}
    grid_of: dict[str, str] = {}
    for n in graph.nodes:
        if n.kind != OpKind.CONCAT:
            continue
        inputs = list(n.inputs)
        for i, v in enumerate(n.inputs):
            if v in copied_inputs[n.name] and groups[v] != groups[n.output]:
                derived = f"{v}@{n.name}"
                requants[derived] = (v, values[n.output])
                grid_of[derived] = n.output
                inputs[i] = derived
        node_inputs[n.name] = tuple(inputs)
    return requants, node_inputs, grid_of


def squeeze_excitation_values(graph: Graph, counts: Mapping[str, int]) -> set[str]:
    """Values of squeeze-excitation scale paths: from each SIGMOID / HARDSIGMOID output that a MUL
    reads, backwards through values with a 1x1 spatial map (or rank 2) read by one node only: the
    gate, the 1x1 convs and their activations, the global pool's output. Stops at the feature map
    being scaled (read twice: by the pool or first conv, and by the MUL)."""
    found: set[str] = set()
    for mul in graph.nodes:
        if mul.kind != OpKind.MUL:
            continue
        for gate in mul.inputs:
            gate_producer = graph.producer(gate)
            if gate_producer is None or gate_producer.kind not in GATE_OPS:
                continue
            pending = [gate]
            while pending:
                v = pending.pop()
                if v in found:
                    continue
                found.add(v)
                producer = graph.producer(v)
                if producer is None:
                    continue
                for w in producer.inputs:
                    shape = graph.values[w].shape
                    pooled = len(shape) == 2 or (len(shape) == 4 and shape[2] == shape[3] == 1)
                    if pooled and counts.get(w, 0) == 1 and w not in graph.inputs:
                        pending.append(w)
    return found


def _writes_own_grid(graph: Graph, value: str, counts: Mapping[str, int]) -> bool:
    """True when `value` can be written straight into a concatenation's grid: its producer
    requantizes into any grid it is given (not a grid-sharing or fixed-grid op), and nothing else
    reads it."""
    producer = graph.producer(value)
    return (producer is not None and producer.kind not in SHARED_GRID_OPS
            and producer.kind not in FIXED_GRID_OPS and counts.get(value, 0) == 1
            and value not in graph.outputs)
