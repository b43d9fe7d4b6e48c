"""MAX_POOL2D -> TFLite MAX_POOL_2D (reference/integer_ops/pooling.h MaxPool); keeps the input grid."""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, emit_explicit_pad, torch_pad_to_tflite
from catdeploy.lower.ops._weighted import input_tensor


def lower_max_pool2d(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    _, h, w, _ = b.tensors[x].shape
    kernel, stride = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"])
    if node.attrs.get("ceil_mode", False):
        raise UserError(f"layer {node.name}: MaxPool2d(ceil_mode=True) is not supported")
    nonneg = b.nonnegative.get(node.inputs[0], False)
    padding, explicit = torch_pad_to_tflite((h, w), kernel, stride, (1, 1), tuple(node.attrs["padding"]))
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
