"""CONV2D -> TFLite CONV_2D (reference kernel: reference/integer_ops/conv.h ConvPerChannel)."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, activation_name, emit_explicit_pad, torch_pad_to_tflite
from catdeploy.lower.ops._weighted import input_tensor, weight_and_bias


def lower_conv2d(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    _, h, w, _ = b.tensors[x].shape
    weight_q = b.qg.weight_codes[node.name].transpose(0, 2, 3, 1)  # [OC, IC/g, KH, KW] -> [OC, KH, KW, IC/g]
    kernel = weight_q.shape[1:3]
    stride, dilation = tuple(node.attrs["stride"]), tuple(node.attrs["dilation"])
    padding, explicit = torch_pad_to_tflite((h, w), kernel, stride, dilation, tuple(node.attrs["padding"]))
    if explicit is not None:
        x = emit_explicit_pad(b, node, x, x, explicit)
    wt, bias = weight_and_bias(b, node, weight_q, quantized_dimension=0)
    act = activation_name(node)
    b.emit_value(node, node.output, "CONV_2D", [x, wt, bias], {
        "padding": padding, "stride_h": stride[0], "stride_w": stride[1],
        "dilation_h": dilation[0], "dilation_w": dilation[1], "fused_activation": act,
    }, nonneg=act != "NONE")
