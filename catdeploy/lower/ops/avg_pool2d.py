"""AVG_POOL2D -> TFLite AVERAGE_POOL_2D (reference/integer_ops/pooling.h AveragePool).

TFLite divides by the number of in-image cells; torch's count_include_pad=True divides by the
kernel area. So count_include_pad=True with padding becomes an explicit PAD (the zero point, real
0) and a VALID AVERAGE_POOL_2D, whose windows then all hold kernel-area cells (inception_v3's
3x3 / stride 1 / pad 1 branch pools); count_include_pad=False needs SAME-compatible padding.
ceil_mode windows are refused.
"""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, emit_explicit_pad, torch_pad_to_tflite
from catdeploy.lower.ops._weighted import input_tensor


def lower_avg_pool2d(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    _, h, w, _ = b.tensors[x].shape
    kernel, stride = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"])
    pads = tuple(node.attrs["padding"])
    padding, explicit = torch_pad_to_tflite((h, w), kernel, stride, (1, 1), pads)
    include_pad = pads != (0, 0, 0, 0) and node.attrs.get("count_include_pad", True)
    if node.attrs.get("ceil_mode", False) or (explicit is not None and not include_pad):
        raise UserError(f"layer {node.name}: AvgPool2d with this padding/ceil_mode has no exact TFLite equivalent")
    if include_pad:
        x = emit_explicit_pad(b, node, node.inputs[0], x, pads)
        padding = "VALID"
    b.emit_value(node, node.output, "AVERAGE_POOL_2D", [x], {
        "padding": padding, "stride_h": stride[0], "stride_w": stride[1],
        "filter_h": kernel[0], "filter_w": kernel[1], "fused_activation": "NONE",
    }, nonneg=b.nonnegative.get(node.inputs[0], False))
