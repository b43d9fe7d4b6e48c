"""MAX_POOL2D in float (TFLite pooling.cc MaxEval, float path); padded cells never win."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from catdeploy.ir.float_ops._activation import torch_pads
from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    (x,) = inputs
    kernel, stride = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"])
    top, left, bottom, right = node.attrs["padding"]
    ceil_mode = node.attrs["ceil_mode"]
    if top == bottom and left == right and 2 * top <= kernel[0] and 2 * left <= kernel[1]:
        return F.max_pool2d(x, kernel, stride, padding=(top, left), ceil_mode=ceil_mode)
    if ceil_mode:
        raise NotImplementedError(f"{node.name}: asymmetric max-pool padding with ceil_mode")
    x = F.pad(x, torch_pads(top, left, bottom, right), value=float("-inf"))
    return F.max_pool2d(x, kernel, stride)
