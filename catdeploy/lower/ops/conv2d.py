"""CONV2D -> TFLite CONV_2D (reference kernel: reference/integer_ops/conv.h ConvPerChannel)."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._conv_common import lower_convolution


def lower_conv2d(b: ProgramBuilder, node: Node) -> None:
    # [OC, IC/g, KH, KW] -> [OC, KH, KW, IC/g]; grouped convs keep IC/g filter channels
    weight_q = b.qg.weight_codes[node.name].transpose(0, 2, 3, 1)
    lower_convolution(b, node, "CONV_2D", weight_q, quantized_dimension=0)
