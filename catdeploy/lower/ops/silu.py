"""SILU (x * sigmoid(x)) -> TFLite LOGISTIC into the fixed 1/256 grid, then MUL with x
(reference/integer_ops/mul.h) into the planned output grid."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, nhwc_shape
from catdeploy.lower.ops._weighted import input_tensor
from catdeploy.quant.qparams import ActQParams

LOGISTIC_GRID = ActQParams(bits=8, scale=1.0 / 256.0, zero_point=0)  # int8 zero point -128


def lower_silu(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    gate = b.act_tensor(f"{node.output}/sigmoid", nhwc_shape(b.graph.values[node.output].shape), LOGISTIC_GRID)
    b.op("LOGISTIC", [x], [gate], {}, name=node.name)
    b.emit_value(node, node.output, "MUL", [x, gate], {"fused_activation": "NONE"}, nonneg=False)
