"""CHANNEL_SHUFFLE -> float GATHER of the permuted channels."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.float_ops._common import nhwc_axis
from catdeploy.lower.ops.channel_shuffle import shuffle_indices


def lower_channel_shuffle(b, node: Node) -> None:
    channels = b.graph.values[node.inputs[0]].shape[1]
    indices = b.const(f"{node.name}/indices", shuffle_indices(channels, int(node.attrs["groups"])))
    b.op("GATHER", [b.value(node.inputs[0]), indices], [b.value(node.output)],
         {"axis": nhwc_axis(b, node, 1), "batch_dims": 0}, name=node.name)
