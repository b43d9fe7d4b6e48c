"""FLATTEN -> TFLite RESHAPE to [-1, C*H*W] (reference_ops::Reshape, a raw copy). For H * W > 1 the
NHWC tensor flattens in H, W, C order; the fully connected layers reading it take their weight
columns in that order (catdeploy.lower.feature_order)."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.feature_order import check_spatial_flatten
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor


def lower_flatten(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    shape = b.tensors[x].shape
    check_spatial_flatten(b.graph, node)
    features = int(np.prod(shape[1:]))
    new_shape = b.const(f"{node.name}/shape", np.array([-1, features], np.int32), "int32")
    b.emit_value(node, node.output, "RESHAPE", [x, new_shape], {"new_shape": (-1, features)},
                 nonneg=b.nonnegative.get(node.inputs[0], False))
