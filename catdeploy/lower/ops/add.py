"""ADD -> TFLite ADD (reference/integer_ops/add.h; inputs may have different grids)."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, activation_name
from catdeploy.lower.ops._weighted import input_tensor


def lower_add(b: ProgramBuilder, node: Node) -> None:
    a, c = input_tensor(b, node, 0), input_tensor(b, node, 1)
    act = activation_name(node)
    both_nonneg = b.nonnegative.get(node.inputs[0], False) and b.nonnegative.get(node.inputs[1], False)
    b.emit_value(node, node.output, "ADD", [a, c], {"fused_activation": act},
                 nonneg=act != "NONE" or both_nonneg)
