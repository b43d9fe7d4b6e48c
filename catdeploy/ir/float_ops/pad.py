"""PAD in float: constant padding of H and W (TFLite pad.cc, float path; PADV2 for value != 0)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from catdeploy.ir.float_ops._activation import torch_pads
from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return F.pad(inputs[0], torch_pads(*node.attrs["pads"]), value=float(node.attrs["value"]))
