"""CONCAT -> float CONCATENATION along the NHWC axis."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.float_ops._common import nhwc_axis


def lower_concat(b, node: Node) -> None:
    b.op("CONCATENATION", [b.value(v) for v in node.inputs], [b.value(node.output)],
         {"axis": nhwc_axis(b, node, int(node.attrs["axis"])), "fused_activation": "NONE"}, name=node.name)
