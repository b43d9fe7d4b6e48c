"""Where a flatten of a spatial feature map meets a fully connected layer.

torch flattens [N, C, H, W] in C, H, W order; the lowered tensors are NHWC, whose RESHAPE to
[N, H*W*C] lists the same values in H, W, C order. Rather than transposing the activations, the
LINEAR that reads the flatten gets its weight columns in that order (an exact permutation: each
output is the same sum of the same int32 products), so the TFLite graph is RESHAPE +
FULLY_CONNECTED, as converters emit for NHWC models.
"""
from __future__ import annotations

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph, Node, OpKind


def spatial_flatten_shape(graph: Graph, node: Node) -> tuple[int, int, int] | None:
    """(C, H, W) of a FLATTEN node's 4-D input with H * W > 1, else None."""
    shape = graph.values[node.inputs[0]].shape
    if len(shape) == 4 and shape[2] * shape[3] != 1:
        return int(shape[1]), int(shape[2]), int(shape[3])
    return None


def check_spatial_flatten(graph: Graph, node: Node) -> tuple[int, int, int] | None:
    """spatial_flatten_shape, after checking that only LINEAR layers read the flattened values
    (any other reader would see them in NHWC order)."""
    chw = spatial_flatten_shape(graph, node)
    if chw is not None:
        others = [n.name for n in graph.consumers(node.output) if n.kind is not OpKind.LINEAR]
        if others or node.output in graph.outputs:
            where = ", ".join(others) if others else "the graph output"
            raise UserError(f"layer {node.name}: flatten of a {chw[1]}x{chw[2]} feature map is read by "
                            f"{where}; only a fully connected layer can read a spatial flatten (unsupported)")
    return chw


def nhwc_columns(graph: Graph, linear: Node) -> np.ndarray | None:
    """Column order of `linear`'s [OUT, C*H*W] weight for an NHWC-flattened input (None: as is)."""
    producer = graph.producer(linear.inputs[0])
    if producer is None or producer.kind is not OpKind.FLATTEN:
        return None
    chw = spatial_flatten_shape(graph, producer)
    if chw is None:
        return None
    return np.arange(chw[0] * chw[1] * chw[2]).reshape(chw).transpose(1, 2, 0).ravel()


def in_nhwc_order(graph: Graph, linear: Node, weight: np.ndarray) -> np.ndarray:
    """`weight` ([OUT, IN]) with its columns in the order the lowered input holds them."""
    columns = nhwc_columns(graph, linear)
    return weight if columns is None else np.ascontiguousarray(weight[:, columns])
