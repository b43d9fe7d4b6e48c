"""MAX_POOL2D -> float MAX_POOL_2D (reference_ops::MaxPool): ceil_mode windows become end padding;
torch padding without a SAME equivalent an explicit PAD, only where the input is >= 0 (PAD
writes 0, torch pads with -inf)."""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ceil_mode_pads, torch_pad_to_tflite
from catdeploy.lower.float_ops._common import explicit_zero_pad, pool


def lower_max_pool2d(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    _, h, w, _ = b.tensors[x].shape
    kernel, stride, pads = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"]), tuple(node.attrs["padding"])
    if node.attrs.get("ceil_mode", False):
        pads = ceil_mode_pads((h, w), b.graph.values[node.output].shape[2:], kernel, stride, pads)
    padding, explicit = torch_pad_to_tflite((h, w), kernel, stride, (1, 1), pads)
    if explicit is not None:
        if not b.nonnegative(node.inputs[0]):
            raise UserError(f"layer {node.name}: MaxPool2d with asymmetric padding on a signed input is not supported")
        x = explicit_zero_pad(b, node, x, explicit)
    pool(b, node, "MAX_POOL_2D", x, padding, kernel, stride)
