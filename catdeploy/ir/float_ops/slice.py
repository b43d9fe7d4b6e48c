"""SLICE in float: x[:, ..., start:stop] along one axis (torch.chunk / torch.split parts)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    (x,) = inputs
    axis, start, stop = int(node.attrs["axis"]), int(node.attrs["start"]), int(node.attrs["stop"])
    return x.narrow(axis, start, stop - start)
