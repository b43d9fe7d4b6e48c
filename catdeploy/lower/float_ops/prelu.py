"""PRELU -> float PRELU with the float32 slopes as a [1, 1, 1, C] (NHWC) or [1, C] constant
(activations.cc PreluEval, float: input >= 0 ? input : input * alpha)."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node


def lower_prelu(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    rank = len(b.tensors[x].shape)
    alpha = np.asarray(node.attrs["alpha"], np.float32).reshape((1,) * (rank - 1) + (-1,))
    b.op("PRELU", [x, b.const(f"{node.name}/alpha", alpha)], [b.value(node.output)], {}, name=node.name)
