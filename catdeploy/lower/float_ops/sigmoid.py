"""SIGMOID -> float LOGISTIC (reference_ops::Logistic)."""
from __future__ import annotations

from catdeploy.ir.graph import Node


def lower_sigmoid(b, node: Node) -> None:
    b.op("LOGISTIC", [b.value(node.inputs[0])], [b.value(node.output)], {}, name=node.name)
