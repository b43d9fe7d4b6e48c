"""SILU in float: x * sigmoid(x) (lowered as TFLite LOGISTIC followed by MUL)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return F.silu(inputs[0])
