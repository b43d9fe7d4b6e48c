"""FLATTEN in float: [N, ...] -> [N, prod(...)] in NCHW order (TFLite reshape.cc)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    x = inputs[0]
    return x.reshape(x.shape[0], -1)
