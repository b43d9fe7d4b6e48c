"""RELU / RELU6 -> float MAXIMUM with 0 (and MINIMUM with 6) when no producer fused them
(reference_ops::Maximum / Minimum)."""
from __future__ import annotations

from catdeploy.ir.graph import Node, OpKind


def lower_relu(b, node: Node) -> None:
    x, out = b.value(node.inputs[0]), b.value(node.output)
    zero = b.scalar(f"{node.name}/zero", 0.0)
    if node.kind is OpKind.RELU:
        b.op("MAXIMUM", [x, zero], [out], {}, name=node.name)
        return
    low = b.intermediate(node, "max0")
    b.op("MAXIMUM", [x, zero], [low], {}, name=node.name)
    b.op("MINIMUM", [low, b.scalar(f"{node.name}/six", 6.0)], [out], {}, name=node.name)
