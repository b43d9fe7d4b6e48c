"""MUL -> float MUL (reference_ops::Mul, broadcasting: the squeeze-excitation scale)."""
from __future__ import annotations

from catdeploy.ir.graph import Node


def lower_mul(b, node: Node) -> None:
    a, c = (b.value(v) for v in node.inputs)
    b.op("MUL", [a, c], [b.value(node.output)], {"fused_activation": "NONE"}, name=node.name)
