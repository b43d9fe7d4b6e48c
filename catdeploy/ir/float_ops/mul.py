"""MUL in float: broadcasting elementwise product (TFLite mul.cc, float path)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    a, b = inputs
    return a * b
