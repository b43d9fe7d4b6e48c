"""nn.Linear -> LINEAR on [N, IN] inputs, with a bias param always (zeros when none)."""
from __future__ import annotations

import numpy as np
import torch.nn as nn

from catdeploy.capture.ops._base import OpCall, Unsupported, param, tensor
from catdeploy.ir.graph import Node, OpKind


def convert_linear(call: OpCall) -> Node:
    module = call.module
    assert isinstance(module, nn.Linear)
    x = tensor(call.bind(lambda input: None)["input"])
    if len(x.shape) != 2:
        raise Unsupported(f"input has shape {x.shape}, expected [N, {module.in_features}]")
    bias = param(module.bias)
    if bias is None:
        bias = np.zeros(module.out_features, dtype=np.float32)
    return call.node(OpKind.LINEAR, [x], {"activation": "none"},
                     {"weight": param(module.weight), "bias": bias})


MODULES = {nn.Linear: convert_linear}
