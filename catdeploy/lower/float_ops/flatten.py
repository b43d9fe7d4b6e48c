"""FLATTEN -> float RESHAPE to [N, features] (1x1 feature maps, as the integer lowering)."""
from __future__ import annotations

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node


def lower_flatten(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    shape = b.tensors[x].shape
    if len(shape) == 4 and shape[1] * shape[2] != 1:
        raise UserError(f"layer {node.name}: flatten of a {shape[1]}x{shape[2]} feature map needs a transpose (unsupported)")
    features = int(np.prod(shape[1:]))
    new_shape = b.const(f"{node.name}/shape", np.array([-1, features], np.int32))
    b.op("RESHAPE", [x, new_shape], [b.value(node.output)], {"new_shape": (-1, features)}, name=node.name)
