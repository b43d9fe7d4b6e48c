"""CONCAT -> TFLite CONCATENATION (int8 requires equal grids on every input and the output)."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder

NCHW_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}


def lower_concat(b: ProgramBuilder, node: Node) -> None:
    inputs = list(b.qg.plan.node_inputs[node.name])
    rank = len(b.graph.values[node.inputs[0]].shape)
    axis = int(node.attrs["axis"]) % rank
    axis = NCHW_TO_NHWC_AXIS[axis] if rank == 4 else axis
    nonneg = all(b.nonnegative.get(v, False) for v in node.inputs)
    b.emit_value(node, node.output, "CONCATENATION", inputs, {"axis": axis, "fused_activation": "NONE"},
                 nonneg=nonneg)
