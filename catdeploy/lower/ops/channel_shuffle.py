"""CHANNEL_SHUFFLE -> TFLite GATHER of the channels (reference_ops::Gather, raw int8 copy): output
channel c reads input channel (c % g) * (C / g) + c // g. One op instead of RESHAPE / TRANSPOSE /
RESHAPE, on the input's grid."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor


def shuffle_indices(channels: int, groups: int) -> np.ndarray:
    per_group = channels // groups
    return np.array([(c % groups) * per_group + c // groups for c in range(channels)], np.int32)


def lower_channel_shuffle(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    shape = b.graph.values[node.inputs[0]].shape
    axis = 3 if len(shape) == 4 else 1
    indices = b.const(f"{node.name}/indices", shuffle_indices(shape[1], int(node.attrs["groups"])), "int32")
    b.emit_copy(node, node.output, "GATHER", [x, indices], {"axis": axis, "batch_dims": 0})
