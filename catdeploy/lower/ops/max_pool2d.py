"""MAX_POOL2D -> TFLite MAX_POOL_2D (reference/integer_ops/pooling.h MaxPool); keeps the input grid.
ceil_mode becomes extra bottom/right padding (SAME when TFLite's padding agrees, else an explicit
PAD, exact only for inputs known to be >= 0)."""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, emit_explicit_pad, torch_pad_to_tflite
from catdeploy.lower.ops._weighted import input_tensor


def lower_max_pool2d(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    _, h, w, _ = b.tensors[x].shape
    kernel, stride = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"])
    pads = tuple(node.attrs["padding"])
    if node.attrs.get("ceil_mode", False):
        # ceil_mode: the last windows run past the bottom/right edge and only see in-image cells,
        # like windows over padding that is never selected: extend the end padding to match.
        _, _, out_h, out_w = b.graph.values[node.output].shape
        top, left, bottom, right = pads
        bottom += max(0, (out_h - 1) * stride[0] + kernel[0] - (h + top + bottom))
        right += max(0, (out_w - 1) * stride[1] + kernel[1] - (w + left + right))
        pads = (top, left, bottom, right)
    nonneg = b.nonnegative.get(node.inputs[0], False)
    padding, explicit = torch_pad_to_tflite((h, w), kernel, stride, (1, 1), pads)
    if explicit is not None:
        # TFLite never selects SAME padding; torch pads with -inf. An explicit PAD with real 0 is
        # only equivalent when every input value is >= 0.
        if not nonneg:
            raise UserError(f"layer {node.name}: MaxPool2d with asymmetric padding on a signed input is not supported")
        x = emit_explicit_pad(b, node, x, x, explicit)
    b.emit_value(node, node.output, "MAX_POOL_2D", [x], {
        "padding": padding, "stride_h": stride[0], "stride_w": stride[1],
        "filter_h": kernel[0], "filter_w": kernel[1], "fused_activation": "NONE",
    }, nonneg=nonneg)
