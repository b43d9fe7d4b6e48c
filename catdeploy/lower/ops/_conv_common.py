"""Shared lowering of CONV_2D and DEPTHWISE_CONV_2D: padding, constants, fused activation."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, activation_name, emit_explicit_pad, torch_pad_to_tflite
from catdeploy.lower.ops._weighted import input_tensor, weight_and_bias


def lower_convolution(b: ProgramBuilder, node: Node, kind: str, weight_q: np.ndarray,
                      quantized_dimension: int, extra_options: dict | None = None) -> None:
    """`weight_q` already in TFLite layout; kernel size read from its axes 1 and 2."""
    x = input_tensor(b, node)
    _, h, w, _ = b.tensors[x].shape
    stride, dilation = tuple(node.attrs["stride"]), tuple(node.attrs["dilation"])
    padding, explicit = torch_pad_to_tflite((h, w), weight_q.shape[1:3], stride, dilation,
                                            tuple(node.attrs["padding"]))
    if explicit is not None:
        x = emit_explicit_pad(b, node, x, x, explicit)
    wt, bias = weight_and_bias(b, node, weight_q, quantized_dimension)
    act = activation_name(node)
    b.emit_value(node, node.output, kind, [x, wt, bias], {
        "padding": padding, "stride_h": stride[0], "stride_w": stride[1],
        "dilation_h": dilation[0], "dilation_w": dilation[1], "fused_activation": act,
        **(extra_options or {}),
    }, nonneg=act != "NONE")
