"""CONV2D / DEPTHWISE_CONV2D -> float CONV_2D / DEPTHWISE_CONV_2D (reference_ops::Conv,
reference_ops::DepthwiseConv): OHWI and 1HWO filters, float32 bias, fused activation."""
from __future__ import annotations

from catdeploy.ir.graph import Node, OpKind
from catdeploy.lower.builder import torch_pad_to_tflite
from catdeploy.lower.float_ops._common import activation, explicit_zero_pad


def lower_conv2d(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    weight = node.params["weight"]  # [OC, IC/groups, KH, KW]
    depthwise = node.kind is OpKind.DEPTHWISE_CONV2D
    filt = weight.transpose(1, 2, 3, 0) if depthwise else weight.transpose(0, 2, 3, 1)
    _, h, w, c_in = b.tensors[x].shape
    stride, dilation = tuple(node.attrs["stride"]), tuple(node.attrs["dilation"])
    padding, explicit = torch_pad_to_tflite((h, w), weight.shape[2:4], stride, dilation, tuple(node.attrs["padding"]))
    if explicit is not None:
        x = explicit_zero_pad(b, node, x, explicit)
    options = {"padding": padding, "stride_h": stride[0], "stride_w": stride[1], "dilation_h": dilation[0],
               "dilation_w": dilation[1], "fused_activation": activation(node)}
    if depthwise:
        options["depth_multiplier"] = filt.shape[3] // c_in
    wt = b.const(f"{node.name}/weight", filt)
    bias = b.const(f"{node.name}/bias", node.params["bias"])
    b.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, wt, bias], [b.value(node.output)], options,
         name=node.name)
