"""ADD -> float ADD with its fused activation (reference_ops::Add, broadcasting)."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.float_ops._common import activation


def lower_add(b, node: Node) -> None:
    a, c = (b.value(v) for v in node.inputs)
    b.op("ADD", [a, c], [b.value(node.output)], {"fused_activation": activation(node)}, name=node.name)
