"""CLAMP -> float MAXIMUM with min and MINIMUM with max (reference_ops::Maximum / Minimum), a
missing bound leaving its op out."""
from __future__ import annotations

from catdeploy.ir.graph import Node


def lower_clamp(b, node: Node) -> None:
    x, out = b.value(node.inputs[0]), b.value(node.output)
    low, high = node.attrs["min"], node.attrs["max"]
    if low is not None:
        target = b.intermediate(node, "max_min") if high is not None else out
        b.op("MAXIMUM", [x, b.scalar(f"{node.name}/min", low)], [target], {}, name=node.name)
        x = target
    if high is not None:
        b.op("MINIMUM", [x, b.scalar(f"{node.name}/max", high)], [out], {}, name=node.name)
