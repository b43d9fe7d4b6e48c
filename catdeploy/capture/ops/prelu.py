"""nn.PReLU and F.prelu (torch.prelu) with a parameter slope -> LEAKY_RELU when every channel has
the same slope (num_parameters=1: exactly TFLite LEAKY_RELU with that float32 alpha), else PRELU
with one slope per channel (axis 1 of an [N, C] or [N, C, H, W] input)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, Unsupported, param, tensor
from catdeploy.ir.graph import Node, OpKind


def convert_prelu(call: OpCall) -> Node:
    module = call.module
    if module is not None:
        assert isinstance(module, nn.PReLU)
        x, weight = call.bind(lambda input: None)["input"], module.weight
    else:
        a = call.bind(lambda input, weight: None)
        x, weight = a["input"], a["weight"]
    x = tensor(x)
    if not isinstance(weight, torch.Tensor):
        raise Unsupported("the slope is not a parameter or constant tensor")
    alpha = param(weight).reshape(-1)
    if not np.all(np.isfinite(alpha)):
        raise Unsupported("a slope is not finite")
    if len(x.shape) not in (2, 4):
        raise Unsupported(f"input of shape {x.shape} (PReLU is captured on [N, C] and [N, C, H, W])")
    if np.all(alpha == alpha[0]):
        return call.node(OpKind.LEAKY_RELU, [x], {"negative_slope": float(alpha[0])})
    if alpha.size != x.shape[1]:
        raise Unsupported(f"{alpha.size} slopes for {x.shape[1]} channels")
    return call.node(OpKind.PRELU, [x], {"alpha": tuple(float(v) for v in alpha)})


MODULES = {nn.PReLU: convert_prelu}
FUNCTIONS = {F.prelu: convert_prelu, torch.prelu: convert_prelu}
