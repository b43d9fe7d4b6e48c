"""SLICE -> float GATHER of the kept channels (or features)."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.float_ops._common import nhwc_axis


def lower_slice(b, node: Node) -> None:
    indices = b.const(f"{node.name}/indices",
                      np.arange(int(node.attrs["start"]), int(node.attrs["stop"]), dtype=np.int32))
    b.op("GATHER", [b.value(node.inputs[0]), indices], [b.value(node.output)],
         {"axis": nhwc_axis(b, node, int(node.attrs["axis"])), "batch_dims": 0}, name=node.name)
