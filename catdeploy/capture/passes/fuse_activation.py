"""Fuse RELU / RELU6 into the CONV2D, DEPTHWISE_CONV2D, LINEAR or ADD that produces their input,
when that output has no other reader (and is not a graph output) and the producer has no
activation yet; the fused node's output takes over. Other RELU/RELU6 nodes stay."""
from __future__ import annotations

from catdeploy.capture.passes._builder import GraphBuilder, consumer_counts
from catdeploy.ir.graph import Graph, Node, OpKind

_FUSABLE_INTO = (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D, OpKind.LINEAR, OpKind.ADD)
_ACTIVATION_OF = {OpKind.RELU: "relu", OpKind.RELU6: "relu6"}


def fuse_activation(graph: Graph) -> Graph:
    builder = GraphBuilder(graph)
    counts = consumer_counts(graph)
    producer_of = graph.producers
    for node in graph.nodes:
        if node.kind not in _ACTIVATION_OF:
            builder.add(node)
            continue
        source = node.inputs[0]
        producer = producer_of.get(source)
        if producer is None or producer.kind not in _FUSABLE_INTO or counts[source] != 1:
            builder.add(node)
            continue
        current = builder.added(producer.name)
        if current.attrs["activation"] != "none":
            builder.add(node)
            continue
        attrs = {**current.attrs, "activation": _ACTIVATION_OF[node.kind]}
        builder.replace(producer.name, Node(current.name, current.kind, current.inputs,
                                            current.outputs, attrs, current.params))
        builder.alias(node.output, source)
    return builder.build()
