"""PRELU in float: x if x >= 0 else alpha[c] * x, alpha along the channel axis 1
(torch.nn.functional.prelu). params["alpha"], when given, replaces attrs["alpha"] (the simulator
passes the int8 slopes the integer graph uses)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    (x,) = inputs
    alpha = params.get("alpha")
    if alpha is None:
        alpha = torch.tensor(node.attrs["alpha"], dtype=x.dtype, device=x.device)
    return F.prelu(x, alpha)
