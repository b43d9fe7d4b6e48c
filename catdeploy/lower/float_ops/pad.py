"""PAD (zero) -> float PAD (reference_ops::Pad)."""
from __future__ import annotations

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node


def lower_pad(b, node: Node) -> None:
    if float(node.attrs.get("value", 0.0)) != 0.0:
        raise UserError(f"layer {node.name}: only zero padding is supported")
    pt, pl, pb, pr = node.attrs["pads"]
    paddings = b.const(f"{node.name}/paddings", np.array([[0, 0], [pt, pb], [pl, pr], [0, 0]], np.int32))
    b.op("PAD", [b.value(node.inputs[0]), paddings], [b.value(node.output)], {}, name=node.name)
