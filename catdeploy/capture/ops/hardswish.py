"""nn.Hardswish and F.hardswish -> HARDSWISH."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, tensor
from catdeploy.ir.graph import Node, OpKind


def convert_hardswish(call: OpCall) -> Node:
    if call.module is not None:
        x = call.bind(lambda input: None)["input"]
    else:
        x = call.bind(lambda input, inplace=False: None)["input"]
    return call.node(OpKind.HARDSWISH, [tensor(x)])


MODULES = {nn.Hardswish: convert_hardswish}
FUNCTIONS = {F.hardswish: convert_hardswish}
