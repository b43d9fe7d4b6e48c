"""nn.Sigmoid, torch.sigmoid, F.sigmoid and Tensor.sigmoid -> SIGMOID."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, tensor
from catdeploy.ir.graph import Node, OpKind


def convert_sigmoid(call: OpCall) -> Node:
    x = call.bind(lambda input: None)["input"]
    return call.node(OpKind.SIGMOID, [tensor(x)])


MODULES = {nn.Sigmoid: convert_sigmoid}
FUNCTIONS = {torch.sigmoid: convert_sigmoid, F.sigmoid: convert_sigmoid}
METHODS = {"sigmoid": convert_sigmoid, "sigmoid_": convert_sigmoid}
