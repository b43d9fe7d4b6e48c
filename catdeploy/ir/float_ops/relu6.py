"""RELU6 in float: min(max(x, 0), 6) (TFLite activations.cc Relu6Eval, float path)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return F.hardtanh(inputs[0], 0.0, 6.0)
