"""CHANNEL_SHUFFLE in float: reshape [N, g, C/g, H, W], swap dims 1 and 2, reshape back
(torchvision shufflenetv2.channel_shuffle); a pure channel permutation."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    (x,) = inputs
    groups = int(node.attrs["groups"])
    n, c = x.shape[0], x.shape[1]
    rest = tuple(x.shape[2:])
    return x.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest)
