"""Reconstruction units found from the Graph alone (never from model classes or module names).

Block units: walk the nodes in topological order and cut after a node when exactly one value is
live (produced so far and still read later, or a graph output). The segments between cuts are
residual-closed: a skip connection keeps two values live, so a basic, bottleneck or inverted
residual block cannot be cut inside. Segments without a weighted node (a pool, a flatten) join the
unit before them (or the first unit). Layer units: one weighted node each (AdaRound's layer-wise
reconstruction), with the non-weighted nodes that follow it up to the next weighted node when they
form a chain (a pool after a conv).
"""
from __future__ import annotations

from dataclasses import dataclass

from catdeploy.ir.graph import Graph
from catdeploy.quant.plan import WEIGHTED_OPS


@dataclass(frozen=True)
class Unit:
    name: str                 # the first weighted node's name
    nodes: tuple[str, ...]    # node names in topological order
    inputs: tuple[str, ...]   # values read by the unit and produced before it (graph values)
    output: str               # the value the unit hands on (the live value at its cut)

    @property
    def kind(self) -> str:
        return "block" if len(self.nodes) > 1 else "layer"


def _last_reader(graph: Graph) -> dict[str, int]:
    last = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last[v] = i
    for v in graph.outputs:
        last[v] = len(graph.nodes)
    return last


def _unit(graph: Graph, indices: list[int]) -> Unit:
    nodes = [graph.nodes[i] for i in indices]
    produced = {v for n in nodes for v in n.outputs}
    inputs = []
    for n in nodes:
        for v in n.inputs:
            if v not in produced and v not in inputs:
                inputs.append(v)
    first_weighted = next((n.name for n in nodes if n.kind in WEIGHTED_OPS), nodes[0].name)
    return Unit(name=first_weighted, nodes=tuple(n.name for n in nodes), inputs=tuple(inputs),
                output=nodes[-1].output)


def block_units(graph: Graph) -> list[Unit]:
    """Residual-closed segments (see the module docstring), each holding >= 1 weighted node."""
    last = _last_reader(graph)
    live = set(graph.inputs)
    segments: list[list[int]] = [[]]
    for i, node in enumerate(graph.nodes):
        segments[-1].append(i)
        live |= set(node.outputs)
        live = {v for v in live if last.get(v, -1) > i}
        if len(live) == 1 and i + 1 < len(graph.nodes):
            segments.append([])
    merged: list[list[int]] = []
    for seg in segments:
        weighted = any(graph.nodes[i].kind in WEIGHTED_OPS for i in seg)
        if merged and not weighted:
            merged[-1].extend(seg)
        elif merged and not any(graph.nodes[i].kind in WEIGHTED_OPS for i in merged[-1]):
            merged[-1].extend(seg)  # a leading weight-free segment joins the first weighted one
        else:
            merged.append(list(seg))
    return [_unit(graph, seg) for seg in _bottlenecks(graph, merged) if seg]


def _plain_layer(graph: Graph, seg: list[int]) -> str | None:
    """The fused activation of a segment holding exactly one weighted node and no ADD, else None."""
    nodes = [graph.nodes[i] for i in seg]
    weighted = [n for n in nodes if n.kind in WEIGHTED_OPS]
    if len(weighted) != 1 or any(n.kind.value == "ADD" for n in nodes):
        return None
    return weighted[0].attrs.get("activation", "none")


def _bottlenecks(graph: Graph, segments: list[list[int]], longest: int = 3) -> list[list[int]]:
    """Join runs of single activated layers ending in a layer without activation (a linear
    bottleneck: expand -> depthwise -> project, as in MobileNetV2 / MnasNet blocks without a skip),
    up to `longest` layers; other runs stay one layer per unit."""
    out: list[list[int]] = []
    pending: list[list[int]] = []
    for seg in segments:
        act = _plain_layer(graph, seg)
        if act is not None and act != "none":
            pending.append(seg)
            continue
        if act == "none" and pending and len(pending) < longest:
            out.append([i for s in pending for i in s] + seg)
        else:
            out.extend(pending)
            out.append(seg)
        pending = []
    out.extend(pending)
    if len(out) > 1 and not any(graph.nodes[i].kind in WEIGHTED_OPS for i in out[-1]):
        out[-2].extend(out.pop())
    return out


def layer_units(graph: Graph) -> list[Unit]:
    """One unit per weighted node (plus the weight-free single-reader chain after it)."""
    readers: dict[str, int] = {}
    for node in graph.nodes:
        for v in node.inputs:
            readers[v] = readers.get(v, 0) + 1
    units: list[list[int]] = []
    for i, node in enumerate(graph.nodes):
        if node.kind in WEIGHTED_OPS or not units:
            units.append([i])
            continue
        prev = graph.nodes[units[-1][-1]]
        chained = (len(node.inputs) == 1 and node.inputs[0] == prev.output and readers.get(prev.output) == 1)
        if chained and graph.nodes[units[-1][0]].kind in WEIGHTED_OPS:
            units[-1].append(i)
        else:
            units.append([i])
    # weight-free units that did not chain (an ADD, a concat) are run as part of the forward pass
    # but have nothing to learn: drop them from the list of units to reconstruct.
    return [_unit(graph, u) for u in units if any(graph.nodes[i].kind in WEIGHTED_OPS for i in u)]


def units_for(graph: Graph, granularity: str) -> list[Unit]:
    if granularity == "block":
        return block_units(graph)
    if granularity == "layer":
        return layer_units(graph)
    raise ValueError(f"unknown unit granularity {granularity!r}")
