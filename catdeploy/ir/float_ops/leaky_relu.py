"""LEAKY_RELU in float: x if x >= 0 else negative_slope * x (torch.nn.functional.leaky_relu)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return F.leaky_relu(inputs[0], float(node.attrs["negative_slope"]))
