"""nn.SiLU and F.silu (x * sigmoid(x), a.k.a. swish) -> SILU."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, tensor
from catdeploy.ir.graph import Node, OpKind


def convert_silu(call: OpCall) -> Node:
    if call.module is not None:
        x = call.bind(lambda input: None)["input"]
    else:
        x = call.bind(lambda input, inplace=False: None)["input"]
    return call.node(OpKind.SILU, [tensor(x)])


MODULES = {nn.SiLU: convert_silu}
FUNCTIONS = {F.silu: convert_silu}
