"""GLOBAL_AVG_POOL in float: mean over H and W, keeping [N, C, 1, 1] (TFLite reduce.cc MEAN)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return inputs[0].mean(dim=(2, 3), keepdim=True)
