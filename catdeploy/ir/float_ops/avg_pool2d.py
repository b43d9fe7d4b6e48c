"""AVG_POOL2D in float (TFLite pooling.cc AverageEval, float path).

count_include_pad=False divides by the number of real (unpadded) cells in each window, as TFLite
does for SAME padding.
"""
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
    ceil_mode, include_pad = node.attrs["ceil_mode"], node.attrs["count_include_pad"]
    if top == bottom and left == right and 2 * top <= kernel[0] and 2 * left <= kernel[1]:
        return F.avg_pool2d(x, kernel, stride, padding=(top, left), ceil_mode=ceil_mode,
                            count_include_pad=include_pad)
    if ceil_mode:
        raise NotImplementedError(f"{node.name}: asymmetric avg-pool padding with ceil_mode")
    pads = torch_pads(top, left, bottom, right)
    summed = F.avg_pool2d(F.pad(x, pads), kernel, stride, divisor_override=1)
    if include_pad:
        return summed / (kernel[0] * kernel[1])
    ones = F.pad(torch.ones_like(x[:1, :1]), pads)
    return summed / F.avg_pool2d(ones, kernel, stride, divisor_override=1)
