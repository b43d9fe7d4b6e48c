"""Pieces shared by the float lowerings: activation names, explicit zero padding, pools, NHWC axes."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.ops.concat import NCHW_TO_NHWC_AXIS

ACTIVATION_NAMES = {"none": "NONE", "relu": "RELU", "relu6": "RELU6"}


def activation(node: Node) -> str:
    return ACTIVATION_NAMES[node.attrs.get("activation", "none")]


def explicit_zero_pad(b, node: Node, x: str, pads: tuple[int, int, int, int]) -> str:
    """PAD with 0.0 (TFLite pad.cc, float): the padded copy of NHWC tensor `x`."""
    pt, pl, pb, pr = pads
    n, h, w, c = b.tensors[x].shape
    out = b.add_tensor(f"{node.name}/pad", (n, h + pt + pb, w + pl + pr, c))
    paddings = b.const(f"{node.name}/paddings", np.array([[0, 0], [pt, pb], [pl, pr], [0, 0]], np.int32))
    b.op("PAD", [x, paddings], [out], {}, name=node.name)
    return out


def pool(b, node: Node, kind: str, x: str, padding: str, kernel, stride) -> None:
    """MAX_POOL_2D / AVERAGE_POOL_2D writing the node's output."""
    b.op(kind, [x], [b.value(node.output)], {
        "padding": padding, "stride_h": stride[0], "stride_w": stride[1], "filter_h": kernel[0],
        "filter_w": kernel[1], "fused_activation": "NONE"}, name=node.name)


def nhwc_axis(b, node: Node, axis: int) -> int:
    """The NHWC axis of NCHW `axis` of the node's first input (rank-2 axes unchanged)."""
    rank = len(b.graph.values[node.inputs[0]].shape)
    axis %= rank
    return NCHW_TO_NHWC_AXIS[axis] if rank == 4 else axis
