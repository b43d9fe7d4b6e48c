"""LEAKY_RELU -> float LEAKY_RELU (reference_ops::LeakyRelu: x > 0 ? x : x * alpha)."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node


def lower_leaky_relu(b, node: Node) -> None:
    b.op("LEAKY_RELU", [b.value(node.inputs[0])], [b.value(node.output)],
         {"alpha": float(np.float32(node.attrs["negative_slope"]))}, name=node.name)
