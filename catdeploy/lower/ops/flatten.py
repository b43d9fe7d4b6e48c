"""FLATTEN -> TFLite RESHAPE to [-1, C] (only when H = W = 1, where NCHW and NHWC orders agree)."""
from __future__ import annotations

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor


def lower_flatten(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    shape = b.tensors[x].shape
    if len(shape) == 4 and shape[1] * shape[2] != 1:
        raise UserError(f"layer {node.name}: flatten of a {shape[1]}x{shape[2]} feature map needs a transpose (unsupported)")
    features = int(np.prod(shape[1:]))
    new_shape = b.const(f"{node.name}/shape", np.array([-1, features], np.int32), "int32")
    b.emit_value(node, node.output, "RESHAPE", [x, new_shape], {"new_shape": (-1, features)},
                 nonneg=b.nonnegative.get(node.inputs[0], False))
