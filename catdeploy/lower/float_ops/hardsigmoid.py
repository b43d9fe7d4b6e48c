"""HARDSIGMOID -> float ADD 3 with a fused RELU6, then MUL 1/6: relu6(x + 3) / 6."""
from __future__ import annotations

from catdeploy.ir.graph import Node


def lower_hardsigmoid(b, node: Node) -> None:
    shifted = b.intermediate(node, "relu6_x_plus_3")
    b.op("ADD", [b.value(node.inputs[0]), b.scalar(f"{node.name}/three", 3.0)], [shifted],
         {"fused_activation": "RELU6"}, name=node.name)
    b.op("MUL", [shifted, b.scalar(f"{node.name}/one_sixth", 1.0 / 6.0)], [b.value(node.output)],
         {"fused_activation": "NONE"}, name=node.name)
