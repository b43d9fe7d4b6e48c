"""DEPTHWISE_CONV2D -> TFLite DEPTHWISE_CONV_2D (reference/integer_ops/depthwise_conv.h)."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._conv_common import lower_convolution
from catdeploy.lower.ops._weighted import input_tensor


def lower_depthwise_conv2d(b: ProgramBuilder, node: Node) -> None:
    weight_q = b.qg.weight_codes[node.name].transpose(1, 2, 3, 0)  # [OC, 1, KH, KW] -> [1, KH, KW, OC]
    c_in = b.tensors[input_tensor(b, node)].shape[3]
    lower_convolution(b, node, "DEPTHWISE_CONV_2D", weight_q, quantized_dimension=3,
                      extra_options={"depth_multiplier": weight_q.shape[3] // c_in})
