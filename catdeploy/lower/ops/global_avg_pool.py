"""GLOBAL_AVG_POOL -> TFLite AVERAGE_POOL_2D over the whole image (reference/integer_ops/pooling.h).

AVERAGE_POOL_2D is identical in every wheel and resolver (MEAN is not), and keeps the input grid.
"""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor


def lower_global_avg_pool(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    _, h, w, _ = b.tensors[x].shape
    b.emit_value(node, node.output, "AVERAGE_POOL_2D", [x], {
        "padding": "VALID", "stride_h": 1, "stride_w": 1, "filter_h": h, "filter_w": w,
        "fused_activation": "NONE",
    }, nonneg=b.nonnegative.get(node.inputs[0], False))
