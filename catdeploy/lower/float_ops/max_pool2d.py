"""MAX_POOL2D -> float MAX_POOL_2D (reference_ops::MaxPool): ceil_mode windows become end padding;
torch padding without a SAME equivalent an explicit PAD, only where the input is >= 0 (PAD
writes 0, torch pads with -inf)."""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import torch_pad_to_tflite
from catdeploy.lower.float_ops._common import explicit_zero_pad, pool


def lower_max_pool2d(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    _, h, w, _ = b.tensors[x].shape
    kernel, stride, pads = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"]), tuple(node.attrs["padding"])
    if node.attrs.get("ceil_mode", False):
        _, _, out_h, out_w = b.graph.values[node.output].shape
        top, left, bottom, right = pads
        bottom += max(0, (out_h - 1) * stride[0] + kernel[0] - (h + top + bottom))
        right += max(0, (out_w - 1) * stride[1] + kernel[1] - (w + left + right))
        pads = (top, left, bottom, right)
    padding, explicit = torch_pad_to_tflite((h, w), kernel, stride, (1, 1), pads)
    if explicit is not None:
        if not b.nonnegative(node.inputs[0]):
            raise UserError(f"layer {node.name}: MaxPool2d with asymmetric padding on a signed input is not supported")
        x = explicit_zero_pad(b, node, x, explicit)
    pool(b, node, "MAX_POOL_2D", x, padding, kernel, stride)
