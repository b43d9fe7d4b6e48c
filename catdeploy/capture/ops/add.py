"""Sum of two graph tensors -> ADD: operator.add (+ and +=), torch.add / Tensor.add (alpha 1)."""
from __future__ import annotations

import operator

import torch

from catdeploy.capture.ops._base import OpCall, Unsupported, tensor
from catdeploy.ir.graph import Node, OpKind


def binary_operands(call: OpCall) -> tuple:
    """The two tensor operands of a binary elementwise call; both must be graph tensors of equal
    rank that broadcast with the batch dimension shared."""
    a = call.bind(lambda input, other, *, alpha=1: None)
    if a["alpha"] != 1:
        raise Unsupported(f"alpha={a['alpha']!r}")
    x, y = tensor(a["input"], "first operand"), tensor(a["other"], "second operand")
    if len(x.shape) != len(y.shape) or x.shape[0] != y.shape[0]:
        raise Unsupported(f"operand shapes {x.shape} and {y.shape} (need equal rank and batch)")
    return x, y


def convert_add(call: OpCall) -> Node:
    return call.node(OpKind.ADD, binary_operands(call), {"activation": "none"})


FUNCTIONS = {operator.add: convert_add, operator.iadd: convert_add, torch.add: convert_add}
METHODS = {"add": convert_add, "add_": convert_add}
