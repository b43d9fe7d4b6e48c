"""CLAMP in float: min(max(x, min), max), a missing bound leaving that side open (torch.clamp)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.clamp(inputs[0], node.attrs["min"], node.attrs["max"])
