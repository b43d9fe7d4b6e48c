"""CONV2D in float: grouped 2-D convolution + bias + fused activation (TFLite conv.cc, float path)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from catdeploy.ir.float_ops._activation import apply_activation, torch_pads
from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    (x,) = inputs
    top, left, bottom, right = node.attrs["padding"]
    if top == bottom and left == right:
        padding = (top, left)
    else:
        x = F.pad(x, torch_pads(top, left, bottom, right))
        padding = (0, 0)
    y = F.conv2d(x, params["weight"], params["bias"], stride=tuple(node.attrs["stride"]),
                 padding=padding, dilation=tuple(node.attrs["dilation"]), groups=node.attrs["groups"])
    return apply_activation(y, node.attrs["activation"])
