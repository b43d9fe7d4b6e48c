"""SIGMOID -> TFLite LOGISTIC (activations.cc: a 256-entry float LUT); the output grid is the fixed
int8 grid of (0, 1) with scale 1/256 and real 0 at -128 (QuantPlan.fixed_grids "logistic")."""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor

LOGISTIC_SCALE = 1.0 / 256.0
LOGISTIC_ZERO_POINT = -128


def lower_sigmoid(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    qp = b.qg.act_qparams[node.output]
    if (qp.bits, qp.scale, qp.tflite_zero_point) != (8, LOGISTIC_SCALE, LOGISTIC_ZERO_POINT):
        raise UserError(f"layer {node.name}: a sigmoid output needs the 8-bit grid scale 1/256, zero point "
                        f"-128 (TFLite LOGISTIC), the plan gave {qp.bits} bit scale {qp.scale}")
    b.emit_value(node, node.output, "LOGISTIC", [x], {}, nonneg=True)
