"""FLATTEN -> float RESHAPE to [N, features] (spatial maps: H, W, C order, as the integer lowering;
catdeploy.lower.feature_order)."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.feature_order import check_spatial_flatten


def lower_flatten(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    shape = b.tensors[x].shape
    check_spatial_flatten(b.graph, node)
    features = int(np.prod(shape[1:]))
    new_shape = b.const(f"{node.name}/shape", np.array([-1, features], np.int32))
    b.op("RESHAPE", [x, new_shape], [b.value(node.output)], {"new_shape": (-1, features)}, name=node.name)
