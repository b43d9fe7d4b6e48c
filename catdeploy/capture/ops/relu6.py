"""nn.ReLU6 and F.relu6 -> RELU6 (hardtanh/clamp to [0, 6] are handled in clamp.py)."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, tensor
from catdeploy.ir.graph import Node, OpKind


def convert_relu6(call: OpCall) -> Node:
    if call.module is not None:
        x = call.bind(lambda input: None)["input"]
    else:
        x = call.bind(lambda input, inplace=False: None)["input"]
    return call.node(OpKind.RELU6, [tensor(x)])


MODULES = {nn.ReLU6: convert_relu6}
FUNCTIONS = {F.relu6: convert_relu6}
