"""HARDSWISH in float: x * relu6(x + 3) / 6 (TFLite activations.cc HardSwishEval, float path)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return F.hardswish(inputs[0])
