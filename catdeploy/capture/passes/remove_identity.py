"""Drop IDENTITY nodes (eval-mode dropout, nn.Identity, contiguous, ...): readers of their output
read their input instead."""
from __future__ import annotations

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.passes._builder import GraphBuilder
from catdeploy.ir.graph import Graph


def remove_identity(graph: Graph) -> Graph:
    builder = GraphBuilder(graph)
    for node in graph.nodes:
        if node.kind == CaptureKind.IDENTITY:
            builder.alias(node.output, node.inputs[0])
        else:
            builder.add(node)
    return builder.build()
