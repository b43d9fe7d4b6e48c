"""AVG_POOL2D -> float AVERAGE_POOL_2D (reference_ops::AveragePool), as the integer lowering:
count_include_pad=True with padding is a PAD and a VALID pool, count_include_pad=False needs
SAME-compatible padding, ceil_mode is refused."""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import torch_pad_to_tflite
from catdeploy.lower.float_ops._common import explicit_zero_pad, pool


def lower_avg_pool2d(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    _, h, w, _ = b.tensors[x].shape
    kernel, stride, pads = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"]), tuple(node.attrs["padding"])
    padding, explicit = torch_pad_to_tflite((h, w), kernel, stride, (1, 1), pads)
    include_pad = pads != (0, 0, 0, 0) and node.attrs.get("count_include_pad", True)
    if node.attrs.get("ceil_mode", False) or (explicit is not None and not include_pad):
        raise UserError(f"layer {node.name}: AvgPool2d with this padding/ceil_mode has no exact TFLite equivalent")
    if include_pad:
        x, padding = explicit_zero_pad(b, node, x, pads), "VALID"
    pool(b, node, "AVERAGE_POOL_2D", x, padding, kernel, stride)
