"""GLOBAL_AVG_POOL -> float AVERAGE_POOL_2D over the whole feature map (output [N, 1, 1, C])."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.float_ops._common import pool


def lower_global_avg_pool(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    _, h, w, _ = b.tensors[x].shape
    pool(b, node, "AVERAGE_POOL_2D", x, "VALID", (h, w), (1, 1))
