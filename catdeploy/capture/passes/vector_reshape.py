"""Reshapes of per-sample vectors, [N, C] <-> [N, C, 1, 1] (also through [N, C, 1]).

The integer graph holds a vector per sample either as [N, C] or as NCHW [N, C, 1, 1] (NHWC
[N, 1, 1, C]: the same bytes). A RESHAPE (view / reshape / squeeze / unsqueeze) that only adds or
drops trailing unit dims of such a vector is resolved here:
- one that reads another such RESHAPE reads that one's source instead (chains collapse; the
  RESHAPEs no longer read are dropped);
- one that gives back its source's shape is removed;
- [N, C, 1, 1] -> [N, C] becomes FLATTEN;
- [N, C] -> [N, C, 1, 1] (a squeeze-excitation gate going back to NCHW: pooled -> view(b, c) ->
  Linear -> ReLU -> Linear -> sigmoid -> view(b, c, 1, 1)) is removed by computing the vector in
  NCHW from the start: from the FLATTENs of [N, C, 1, 1] values it begins at, each LINEAR becomes
  a 1x1 CONV2D and the elementwise ops run on [N, C, 1, 1]. Every value of that computation must
  be read only inside it (or by such reshapes); else the reshape stays and channel_shuffle
  refuses it.
Runs after canonicalize (a mean over H, W without keepdim is then GLOBAL_AVG_POOL + FLATTEN).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.passes._builder import GraphBuilder, consumer_counts
from catdeploy.ir.graph import Graph, Node, OpKind, Value

# Ops that compute a [N, C] value exactly as they would compute it on [N, C, 1, 1].
_ELEMENTWISE = frozenset({OpKind.RELU, OpKind.RELU6, OpKind.SIGMOID, OpKind.HARDSIGMOID,
                          OpKind.HARDSWISH, OpKind.SILU, OpKind.ADD, OpKind.MUL,
                          CaptureKind.BATCHNORM})
_ON_CHANNELS = frozenset({OpKind.CONCAT, OpKind.SLICE})   # with axis 1
_CONV_ATTRS = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}


def vector_reshape(graph: Graph) -> Graph:
    return _lift_to_nchw(_collapse(graph))


def _vector(shape: tuple[int, ...]) -> bool:
    return 2 <= len(shape) <= 4 and all(d == 1 for d in shape[2:])


def _collapse(graph: Graph) -> Graph:
    builder = GraphBuilder(graph)
    origin: dict[str, str] = {}    # output of a kept vector RESHAPE -> the value it reshapes
    for node in graph.nodes:
        if node.kind not in (CaptureKind.RESHAPE, OpKind.FLATTEN):
            builder.add(node)
            continue
        read = builder.resolve(node.inputs[0])
        if node.kind == OpKind.FLATTEN and read not in origin:
            builder.add(node)
            continue
        source = origin.get(read, read)
        in_shape, out_shape = graph.values[source].shape, graph.values[node.output].shape
        if not (_vector(graph.values[read].shape) and _vector(out_shape) and _vector(in_shape)
                and in_shape[:2] == out_shape[:2]):
            builder.add(node)
        elif in_shape == out_shape:
            builder.alias(node.output, source)
        elif len(out_shape) == 2 and len(in_shape) == 4:
            builder.add(Node(node.name, OpKind.FLATTEN, (source,), node.outputs))
        elif node.kind == CaptureKind.RESHAPE:
            builder.add(Node(node.name, node.kind, (source,), node.outputs, node.attrs))
            origin[node.output] = source
        else:
            builder.add(node)
    return _drop_unread_reshapes(builder.build())


def _drop_unread_reshapes(graph: Graph) -> Graph:
    """Without the RESHAPEs whose output nobody reads any more (a collapsed chain's links)."""
    nodes = list(graph.nodes)
    while True:
        counts = consumer_counts(Graph(tuple(nodes), graph.values, graph.inputs, graph.outputs, graph.name))
        kept = [n for n in nodes if n.kind != CaptureKind.RESHAPE or counts[n.output]]
        if len(kept) == len(nodes):
            break
        nodes = kept
    if len(nodes) == len(graph.nodes):
        return graph
    live = list(graph.inputs) + [v for n in nodes for v in n.outputs]
    return Graph(tuple(nodes), {v: graph.values[v] for v in live}, graph.inputs, graph.outputs, graph.name)


def _lift_to_nchw(graph: Graph) -> Graph:
    producer_of = graph.producers
    candidates = {}   # reshape name -> (region node names, {flatten output: its [N, C, 1, 1] input})
    for node in graph.nodes:
        if _unflattens(graph, node):
            found = _region(graph, node.inputs[0], producer_of)
            if found is not None:
                candidates[node.name] = found
    output_of = {node.name: node.output for node in graph.nodes}
    readers: dict[str, list[str]] = {}
    for node in graph.nodes:
        for value in node.inputs:
            readers.setdefault(value, []).append(node.name)
    while candidates:   # drop those whose computation is read from outside, until none is
        region = set().union(*(r for r, _ in candidates.values()))
        inside = region | set(candidates)
        leaky = {name for name in region if output_of[name] in graph.outputs
                 or any(r not in inside for r in readers.get(output_of[name], []))}
        if not leaky:
            break
        candidates = {k: v for k, v in candidates.items() if not (v[0] & leaky)}
    unresolved = [node for node in graph.nodes if _unflattens(graph, node) and node.name not in candidates]
    if unresolved:
        graph = _explain(graph, unresolved)
    if not candidates:
        return graph

    region = set().union(*(r for r, _ in candidates.values()))
    leaves: dict[str, str] = {}
    for _, found in candidates.values():
        leaves.update(found)
    builder = GraphBuilder(graph)
    for node in graph.nodes:
        if node.name in candidates:
            builder.alias(node.output, leaves.get(node.inputs[0], node.inputs[0]))
        elif node.name in region:
            builder.add(_lifted(node, leaves))
            n, c = graph.values[node.output].shape
            builder.values[node.output] = Value(node.output, (n, c, 1, 1))
        else:
            builder.add(node)
    return builder.build()


def _unflattens(graph: Graph, node: Node) -> bool:
    """`node` is a RESHAPE [N, C] -> [N, C, 1, 1]."""
    if node.kind != CaptureKind.RESHAPE:
        return False
    source, result = graph.values[node.inputs[0]].shape, graph.values[node.output].shape
    return len(source) == 2 and len(result) == 4 and _vector(result) and source[:2] == result[:2]


def _explain(graph: Graph, reshapes: list[Node]) -> Graph:
    """`graph` with the refusal of each of `reshapes` saying what resolving it needs."""
    names = {node.name for node in reshapes}
    nodes = []
    for node in graph.nodes:
        refusal = node.attrs.get("refusal") if node.name in names else None
        if refusal is not None:
            source, result = graph.values[node.inputs[0]].shape, graph.values[node.output].shape
            reason = (f"reshape {source} -> {result}: the [N, C] vector must be computed in NCHW "
                      f"from a pooled [N, C, 1, 1] value by linear, elementwise, concat or slice ops "
                      f"that nothing else reads")
            node = Node(node.name, node.kind, node.inputs, node.outputs,
                        {**node.attrs, "refusal": dataclasses.replace(refusal, reason=reason)})
        nodes.append(node)
    return Graph(tuple(nodes), graph.values, graph.inputs, graph.outputs, graph.name)


def _region(graph: Graph, value: str, producer_of: Mapping[str, Node]):
    """(names of the nodes computing `value` from FLATTENs of [N, C, 1, 1] values, {each such
    FLATTEN's output: its input}), or None when `value` depends on anything else."""
    region: set[str] = set()
    leaves: dict[str, str] = {}
    stack, seen = [value], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        node = producer_of.get(current)
        if node is None:
            return None
        if node.kind == OpKind.FLATTEN and len(graph.values[node.inputs[0]].shape) == 4 \
                and _vector(graph.values[node.inputs[0]].shape):
            leaves[current] = node.inputs[0]
            continue
        if len(graph.values[current].shape) != 2 or not _liftable(node):
            return None
        region.add(node.name)
        stack.extend(node.inputs)
    return region, leaves


def _liftable(node: Node) -> bool:
    if node.kind in _ON_CHANNELS:
        return node.attrs["axis"] == 1
    return node.kind in _ELEMENTWISE or node.kind == OpKind.LINEAR


def _lifted(node: Node, leaves: dict[str, str]) -> Node:
    """`node` computing on [N, C, 1, 1] values: its FLATTEN inputs replaced by their sources, a
    LINEAR as the 1x1 CONV2D it equals."""
    inputs = tuple(leaves.get(v, v) for v in node.inputs)
    if node.kind != OpKind.LINEAR:
        return dataclasses.replace(node, inputs=inputs)
    weight = np.asarray(node.params["weight"], dtype=np.float32)
    params = {**node.params, "weight": weight.reshape(weight.shape + (1, 1)).copy()}
    return Node(node.name, OpKind.CONV2D, inputs, node.outputs,
                {**_CONV_ATTRS, "activation": node.attrs["activation"]}, params)
