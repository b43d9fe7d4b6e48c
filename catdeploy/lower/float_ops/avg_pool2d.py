"""AVG_POOL2D -> float AVERAGE_POOL_2D (reference_ops::AveragePool), laid out as the integer
lowering (lower/ops/avg_pool2d.py average_pool_layout): count_include_pad=True with padding is a
PAD and a pool over the padded map, ceil_mode windows count only the cells they cover, and the
remaining padding must be SAME or none."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.float_ops._common import explicit_zero_pad, pool
from catdeploy.lower.ops.avg_pool2d import average_pool_layout


def lower_avg_pool2d(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    _, h, w, _ = b.tensors[x].shape
    kernel, stride = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"])
    explicit, padding = average_pool_layout(node, (h, w), b.graph.values[node.output].shape[2:])
    if explicit is not None:
        x = explicit_zero_pad(b, node, x, explicit)
    pool(b, node, "AVERAGE_POOL_2D", x, padding, kernel, stride)
