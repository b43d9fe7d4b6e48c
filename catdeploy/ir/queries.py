"""Questions several stages ask of a Graph, answered once: which node is the classifier.

The plan keeps the classifier at 8 bit by default (`classifier_candidate`, lenient); CAT and the
lowering of the classifier alone need it to be a plain fully connected layer writing the single
output (`classifier_node`, strict).
"""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph, Node, OpKind


def classifier_candidate(graph: Graph) -> Node | None:
    """The last LINEAR writing a graph output, else the last LINEAR of the graph, else None."""
    linears = [n for n in graph.nodes if n.kind is OpKind.LINEAR]
    heads = [n for n in linears if any(v in graph.outputs for v in n.outputs)]
    return (heads or linears or [None])[-1]


def classifier_node(graph: Graph) -> Node:
    """The LINEAR node without fused activation that writes the graph's single output (the layer CAT
    corrects); a UserError saying what is there instead when the graph has no such node."""
    if len(graph.outputs) != 1:
        raise UserError(f"CAT needs a model with one output, this one has {len(graph.outputs)}")
    producer = graph.producer(graph.outputs[0])
    if producer is None or producer.kind != OpKind.LINEAR or producer.attrs.get("activation", "none") != "none":
        what = producer.kind.value if producer is not None else "no node"
        raise UserError(f"CAT needs the logits to come from a fully connected layer without activation "
                        f"(the output is produced by {what})")
    return producer
