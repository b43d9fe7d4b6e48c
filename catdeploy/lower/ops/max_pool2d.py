"""MAX_POOL2D -> TFLite MAX_POOL_2D (reference/integer_ops/pooling.h MaxPool); keeps the input grid.
ceil_mode becomes extra bottom/right padding (SAME when TFLite's padding agrees, else an explicit
PAD, exact only for inputs known to be >= 0)."""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, ceil_mode_pads, emit_explicit_pad, torch_pad_to_tflite
from catdeploy.lower.ops._weighted import input_tensor


def lower_max_pool2d(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    _, h, w, _ = b.tensors[x].shape
    kernel, stride = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"])
    pads = tuple(node.attrs["padding"])
    if node.attrs.get("ceil_mode", False):
        pads = ceil_mode_pads((h, w), b.graph.values[node.output].shape[2:], kernel, stride, pads)
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
