"""SLICE (a chunk / split part) -> TFLite GATHER of indices start..stop-1 on that axis
(reference_ops::Gather, raw int8 copy on the input's grid)."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor

NCHW_TO_NHWC_AXIS = {1: 3, 2: 1, 3: 2}


def lower_slice(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    rank = len(b.graph.values[node.inputs[0]].shape)
    axis = int(node.attrs["axis"])
    axis = NCHW_TO_NHWC_AXIS[axis] if rank == 4 else axis
    indices = b.const(f"{node.name}/indices",
                      np.arange(int(node.attrs["start"]), int(node.attrs["stop"]), dtype=np.int32), "int32")
    b.emit_copy(node, node.output, "GATHER", [x, indices], {"axis": axis, "batch_dims": 0})
