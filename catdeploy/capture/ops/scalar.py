"""A graph tensor and a Python number: x + c, c + x, x * c, x / c (operator, torch and Tensor
forms, in place too) -> SCALAR, a capture-only node. The hard_activations pass turns the written-out
hard sigmoid relu6(x + 3) / 6 and hard swish x * relu6(x + 3) / 6 into HARDSIGMOID / HARDSWISH
and refuses every SCALAR left over (TFLite has no exact int8 form of an arbitrary affine map on
a tensor's own grid).

Division has no other handler, so it is registered here. Addition and multiplication belong to
add.py and mul.py (two graph tensors); their scalar forms are FALLBACK_* handlers, tried when the
primary handler refuses the call."""
from __future__ import annotations

import operator

import torch

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops._base import OpCall, TensorArg, Unsupported, number
from catdeploy.ir.graph import Node

_SYMBOL = {"add": "+", "mul": "*", "div": "/"}


def _scalar_node(call: OpCall, op: str, x, value) -> Node:
    if not isinstance(x, TensorArg):
        raise Unsupported(f"{type(x).__name__} operand, expected a graph tensor and a number")
    c = number(value, "the constant operand")
    refusal = (f"x {_SYMBOL[op]} {c!r} at {call.name} (a constant operand is captured only in "
               f"relu6(x + 3) / 6 and x * relu6(x + 3) / 6)")
    return call.node(CaptureKind.SCALAR, [x], {"op": op, "value": c, "refusal": refusal})


def _commutative(op: str):
    def convert(call: OpCall) -> Node:
        a = call.bind(lambda input, other, *, alpha=1: None)
        if a["alpha"] != 1:
            raise Unsupported(f"alpha={a['alpha']!r}")
        x, y = a["input"], a["other"]
        if isinstance(y, TensorArg) and not isinstance(x, TensorArg):
            x, y = y, x
        return _scalar_node(call, op, x, y)

    return convert


def convert_div(call: OpCall) -> Node:
    a = call.bind(lambda input, other, *, rounding_mode=None: None)
    if a["rounding_mode"] is not None:
        raise Unsupported(f"rounding_mode={a['rounding_mode']!r}")
    if not isinstance(a["input"], TensorArg):
        raise Unsupported("a number divided by a tensor")
    return _scalar_node(call, "div", a["input"], a["other"])


convert_add_scalar = _commutative("add")
convert_mul_scalar = _commutative("mul")

FUNCTIONS = {operator.truediv: convert_div, operator.itruediv: convert_div, torch.div: convert_div,
             torch.true_divide: convert_div}
METHODS = {"div": convert_div, "div_": convert_div, "true_divide": convert_div, "true_divide_": convert_div}
FALLBACK_FUNCTIONS = {operator.add: convert_add_scalar, operator.iadd: convert_add_scalar,
                      torch.add: convert_add_scalar, operator.mul: convert_mul_scalar,
                      operator.imul: convert_mul_scalar, torch.mul: convert_mul_scalar}
FALLBACK_METHODS = {"add": convert_add_scalar, "add_": convert_add_scalar, "mul": convert_mul_scalar,
                    "mul_": convert_mul_scalar}
