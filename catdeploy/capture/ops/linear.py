"""nn.Linear and F.linear with a stored weight (timm's Linear calls it) -> LINEAR on [N, IN]
inputs, with a bias param always (zeros when none)."""
from __future__ import annotations

import numpy as np
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, Unsupported, constant, param, tensor
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


def convert_functional_linear(call: OpCall) -> Node:
    a = call.bind(lambda input, weight, bias=None: None)
    x = tensor(a["input"])
    weight = constant(a["weight"], "weight")
    if weight.ndim != 2 or len(x.shape) != 2 or x.shape[1] != weight.shape[1]:
        raise Unsupported(f"input has shape {x.shape} and weight {weight.shape}, expected [N, IN] "
                          f"and [OUT, IN]")
    bias = np.zeros(weight.shape[0], dtype=np.float32) if a["bias"] is None else constant(a["bias"], "bias")
    if bias.shape != (weight.shape[0],):
        raise Unsupported(f"bias has shape {bias.shape} for {weight.shape[0]} outputs")
    return call.node(OpKind.LINEAR, [x], {"activation": "none"}, {"weight": weight, "bias": bias})


MODULES = {nn.Linear: convert_linear}
FUNCTIONS = {F.linear: convert_functional_linear}
