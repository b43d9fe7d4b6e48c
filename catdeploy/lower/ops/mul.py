"""MUL -> TFLite MUL (reference/integer_ops/mul.h: one MultiplyByQuantizedMultiplier of the product
of the centred inputs, multiplier f32(s1 * s2) / s_out); broadcasting [N, 1, 1, C] x [N, H, W, C]
is the squeeze-excitation scale."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor


def lower_mul(b: ProgramBuilder, node: Node) -> None:
    a, c = input_tensor(b, node, 0), input_tensor(b, node, 1)
    both_nonneg = b.nonnegative.get(node.inputs[0], False) and b.nonnegative.get(node.inputs[1], False)
    b.emit_value(node, node.output, "MUL", [a, c], {"fused_activation": "NONE"}, nonneg=both_nonneg)
