"""Standalone RELU / RELU6 (not fused into a producer) -> TFLite MAXIMUM (and MINIMUM) on the shared grid."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node, OpKind
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor


def _const_like(b: ProgramBuilder, name: str, value: int, qp) -> str:
    return b.const(name, np.array(np.clip(value, -128, 127), np.int8), "int8", scale=(qp.scale,),
                   zero_point=(qp.tflite_zero_point,), bits=qp.bits)


def lower_relu(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    qp = b.qg.act_qparams[node.output]
    zero = _const_like(b, f"{node.name}/zero", qp.tflite_zero_point, qp)
    if node.kind == OpKind.RELU6:
        six_code = qp.tflite_zero_point + int(np.round(6.0 / np.float32(qp.scale)))
        mid = f"{node.output}/relu"
        b.value_tensor(node.output, name=mid)
        b.op("MAXIMUM", [x, zero], [mid], {}, name=node.name)
        six = _const_like(b, f"{node.name}/six", six_code, qp)
        b.emit_value(node, node.output, "MINIMUM", [mid, six], {}, nonneg=True)
    else:
        b.emit_value(node, node.output, "MAXIMUM", [x, zero], {}, nonneg=True)
