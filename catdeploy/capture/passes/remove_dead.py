"""Drop nodes whose outputs never reach a graph output."""
from __future__ import annotations

from catdeploy.ir.graph import Graph


def remove_dead(graph: Graph) -> Graph:
    needed = set(graph.outputs)
    keep = []
    for node in reversed(graph.nodes):
        if any(v in needed for v in node.outputs):
            keep.append(node)
            needed.update(node.inputs)
    nodes = tuple(reversed(keep))
    live = list(graph.inputs) + [v for n in nodes for v in n.outputs]
    return Graph(nodes=nodes, values={v: graph.values[v] for v in live}, inputs=graph.inputs,
                 outputs=graph.outputs, name=graph.name)
