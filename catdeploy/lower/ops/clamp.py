"""CLAMP (constant bounds, on its input's shared grid) -> TFLite MAXIMUM with the code of min and
MINIMUM with the code of max (reference_ops::MaximumMinimumBroadcastSlow on raw int8 values), as
the standalone RELU / RELU6 lowering: clamping codes on one grid equals quantizing the clamped
real values, the bounds rounded to the grid (half to even) as the simulator rounds them. The
bound codes are kept inside the grid's code range, so the output needs no further clip."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor
from catdeploy.quant.qparams import container_offset


def _bound(b: ProgramBuilder, node: Node, which: str, value: float, qp) -> str:
    code = qp.tflite_zero_point + int(np.round(value / np.float32(qp.scale)))
    code = int(np.clip(code, container_offset(qp.bits), 127))
    return b.const(f"{node.name}/{which}_bound", np.array(code, np.int8), "int8",
                   scale=(qp.scale,), zero_point=(qp.tflite_zero_point,), bits=qp.bits)


def lower_clamp(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    qp = b.qg.act_qparams[node.output]
    low, high = node.attrs["min"], node.attrs["max"]
    if low is not None and high is not None:
        mid = f"{node.output}/above_min"
        b.value_tensor(node.output, name=mid)
        b.op("MAXIMUM", [x, _bound(b, node, "min", low, qp)], [mid], {}, name=node.name)
        x = mid
    kind, which, value = ("MINIMUM", "max", high) if high is not None else ("MAXIMUM", "min", low)
    b.value_tensor(node.output)
    b.op(kind, [x, _bound(b, node, which, value, qp)], [node.output], {}, name=node.name)
    b.nonnegative[node.output] = b.nonnegative.get(node.inputs[0], False) or (low is not None and low >= 0)
    b.emit_requants(node.output)
