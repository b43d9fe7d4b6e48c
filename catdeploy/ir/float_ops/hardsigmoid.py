"""HARDSIGMOID in float: relu6(x + 3) / 6 (torch.nn.functional.hardsigmoid)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return F.hardsigmoid(inputs[0])
