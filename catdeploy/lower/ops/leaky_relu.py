"""LEAKY_RELU -> TFLite LEAKY_RELU (activations.cc LeakyReluPrepare + reference_ops::QuantizeLeakyRelu):
two requantizations of x - z_in, by s_in / s_out where x >= z_in and by alpha s_in / s_out below,
alpha the float32 slope written in LeakyReluOptions. The output is observed like any activation."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor


def lower_leaky_relu(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    alpha = float(np.float32(node.attrs["negative_slope"]))
    nonneg = b.nonnegative.get(node.inputs[0], False)
    b.emit_value(node, node.output, "LEAKY_RELU", [x], {"alpha": alpha}, nonneg=nonneg)
