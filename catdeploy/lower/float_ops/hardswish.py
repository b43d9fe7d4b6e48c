"""HARDSWISH -> float HARD_SWISH (reference_ops::HardSwish)."""
from __future__ import annotations

from catdeploy.ir.graph import Node


def lower_hardswish(b, node: Node) -> None:
    b.op("HARD_SWISH", [b.value(node.inputs[0])], [b.value(node.output)], {}, name=node.name)
