"""DEPTHWISE_CONV2D -> TFLite DEPTHWISE_CONV_2D (reference/integer_ops/depthwise_conv.h)."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, activation_name, emit_explicit_pad, torch_pad_to_tflite
from catdeploy.lower.ops._weighted import input_tensor, weight_and_bias


def lower_depthwise_conv2d(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    _, h, w, c_in = b.tensors[x].shape
    weight_q = b.qg.weight_codes[node.name].transpose(1, 2, 3, 0)  # [OC, 1, KH, KW] -> [1, KH, KW, OC]
    kernel = weight_q.shape[1:3]
    stride, dilation = tuple(node.attrs["stride"]), tuple(node.attrs["dilation"])
    padding, explicit = torch_pad_to_tflite((h, w), kernel, stride, dilation, tuple(node.attrs["padding"]))
    if explicit is not None:
        x = emit_explicit_pad(b, node, x, x, explicit)
    wt, bias = weight_and_bias(b, node, weight_q, quantized_dimension=3)
    act = activation_name(node)
    b.emit_value(node, node.output, "DEPTHWISE_CONV_2D", [x, wt, bias], {
        "padding": padding, "stride_h": stride[0], "stride_w": stride[1],
        "dilation_h": dilation[0], "dilation_w": dilation[1], "fused_activation": act,
        "depth_multiplier": weight_q.shape[3] // c_in,
    }, nonneg=act != "NONE")
