"""LINEAR in float: x @ weight.T + bias + fused activation (TFLite fully_connected.cc, float path)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from catdeploy.ir.float_ops._activation import apply_activation
from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    (x,) = inputs
    return apply_activation(F.linear(x, params["weight"], params["bias"]), node.attrs["activation"])
