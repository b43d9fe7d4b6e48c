"""DEPTHWISE_CONV2D in float: groups == input channels, weight [C*multiplier, 1, KH, KW]
(TFLite depthwise_conv.cc, float path). Same arithmetic as a grouped CONV2D."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from catdeploy.ir.float_ops import conv2d
from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return conv2d.run(node, inputs, params)
