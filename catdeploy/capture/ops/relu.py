"""nn.ReLU, F.relu, torch.relu, relu_ and Tensor.relu -> RELU."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, tensor
from catdeploy.ir.graph import Node, OpKind


def convert_relu(call: OpCall) -> Node:
    if call.module is not None:
        x = call.bind(lambda input: None)["input"]
    else:
        x = call.bind(lambda input, inplace=False: None)["input"]
    return call.node(OpKind.RELU, [tensor(x)])


MODULES = {nn.ReLU: convert_relu}
FUNCTIONS = {F.relu: convert_relu, torch.relu: convert_relu, torch.relu_: convert_relu,
             F.relu_: convert_relu}
METHODS = {"relu": convert_relu, "relu_": convert_relu}
