"""Product of two graph tensors -> MUL: operator.mul (* and *=), torch.mul / Tensor.mul."""
from __future__ import annotations

import operator

import torch

from catdeploy.capture.ops._base import OpCall
from catdeploy.capture.ops.add import binary_operands
from catdeploy.ir.graph import Node, OpKind


def convert_mul(call: OpCall) -> Node:
    return call.node(OpKind.MUL, binary_operands(call))


FUNCTIONS = {operator.mul: convert_mul, operator.imul: convert_mul, torch.mul: convert_mul}
METHODS = {"mul": convert_mul, "mul_": convert_mul}
