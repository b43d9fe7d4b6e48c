"""PAD (zero padding) -> TFLite PAD; int8 PAD fills with the output zero point, i.e. real 0."""
from __future__ import annotations

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor


def lower_pad(b: ProgramBuilder, node: Node) -> None:
    if float(node.attrs.get("value", 0.0)) != 0.0:
        raise UserError(f"layer {node.name}: only zero padding is supported")
    x = input_tensor(b, node)
    pt, pl, pb, pr = node.attrs["pads"]
    paddings = b.const(f"{node.name}/paddings", np.array([[0, 0], [pt, pb], [pl, pr], [0, 0]], np.int32), "int32")
    b.emit_value(node, node.output, "PAD", [x, paddings], {}, nonneg=b.nonnegative.get(node.inputs[0], False))
