"""nn.Hardsigmoid and F.hardsigmoid -> HARDSIGMOID."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, tensor
from catdeploy.ir.graph import Node, OpKind


def convert_hardsigmoid(call: OpCall) -> Node:
    if call.module is not None:
        x = call.bind(lambda input: None)["input"]
    else:
        x = call.bind(lambda input, inplace=False: None)["input"]
    return call.node(OpKind.HARDSIGMOID, [tensor(x)])


MODULES = {nn.Hardsigmoid: convert_hardsigmoid}
FUNCTIONS = {F.hardsigmoid: convert_hardsigmoid}
