"""Recognise torchvision's channel shuffle, RESHAPE [N, C, H, W] -> [N, g, C/g, H, W], TRANSPOSE
of dims 1 and 2, RESHAPE back to [N, C, H, W] (shufflenetv2.channel_shuffle), and replace the three
capture-only nodes by one CHANNEL_SHUFFLE. The intermediate values must have no other reader.
Any RESHAPE or TRANSPOSE left over is refused, all of them at once (CaptureRefused), each as the
call site capture recorded in its "refusal" attribute."""
from __future__ import annotations

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.passes._builder import GraphBuilder, consumer_counts
from catdeploy.capture.refusal import CaptureRefused, UnsupportedOp
from catdeploy.ir.graph import Graph, Node, OpKind


def channel_shuffle(graph: Graph) -> Graph:
    counts = consumer_counts(graph)
    producer_of = graph.producers
    absorbed: set[str] = set()
    shuffles: dict[str, Node] = {}   # final reshape's name -> CHANNEL_SHUFFLE node
    for node in graph.nodes:
        match = _match(graph, node, producer_of, counts)
        if match is not None:
            split, transpose, groups = match
            absorbed.update({split.name, transpose.name})
            shuffles[node.name] = Node(node.name, OpKind.CHANNEL_SHUFFLE, split.inputs, node.outputs,
                                       {"groups": groups})
    builder = GraphBuilder(graph)
    leftovers = []
    for node in graph.nodes:
        if node.name in absorbed:
            continue
        if node.name in shuffles:
            builder.add(shuffles[node.name])
        elif node.kind in (CaptureKind.RESHAPE, CaptureKind.TRANSPOSE):
            leftovers.append(node.attrs.get("refusal")
                             or UnsupportedOp(node.kind.value, node.name, node.kind.value, ""))
        else:
            builder.add(node)
    if leftovers:
        raise CaptureRefused(graph.name, leftovers)
    return builder.build()


def _match(graph: Graph, node: Node, producer_of, counts):
    """(split reshape, transpose, groups) when `node` is the last reshape of a channel shuffle."""
    if node.kind != CaptureKind.RESHAPE:
        return None
    transpose = producer_of.get(node.inputs[0])
    if transpose is None or transpose.kind != CaptureKind.TRANSPOSE or tuple(transpose.attrs["dims"]) != (1, 2):
        return None
    split = producer_of.get(transpose.inputs[0])
    if split is None or split.kind != CaptureKind.RESHAPE:
        return None
    if counts[split.output] != 1 or counts[transpose.output] != 1:
        return None
    source = graph.values[split.inputs[0]].shape
    middle = graph.values[split.output].shape
    final = graph.values[node.output].shape
    if len(source) < 2 or tuple(final) != tuple(source) or len(middle) != len(source) + 1:
        return None
    n, c, rest = source[0], source[1], tuple(source[2:])
    groups, per_group = middle[1], middle[2]
    if tuple(middle) != (n, groups, per_group) + rest or groups * per_group != c:
        return None
    return split, transpose, int(groups)
