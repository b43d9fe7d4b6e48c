"""SILU -> float LOGISTIC and MUL: x * sigmoid(x)."""
from __future__ import annotations

from catdeploy.ir.graph import Node


def lower_silu(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    gate = b.intermediate(node, "sigmoid")
    b.op("LOGISTIC", [x], [gate], {}, name=node.name)
    b.op("MUL", [x, gate], [b.value(node.output)], {"fused_activation": "NONE"}, name=node.name)
