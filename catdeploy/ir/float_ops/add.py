"""ADD in float: broadcasting elementwise sum + fused activation (TFLite add.cc, float path)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from catdeploy.ir.float_ops._activation import apply_activation
from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    a, b = inputs
    return apply_activation(a + b, node.attrs["activation"])
