"""A graph tensor and a Python number: x + c, c + x, x - c, x * c, c * x, x / c (operator, torch
and Tensor forms, in place too).

x + 0, x - 0, x * 1 and x / 1 are the tensor itself -> IDENTITY (removed by the remove_identity
pass; torch computes the same values, a zero's sign aside, which no integer graph keeps): timm's
MobileOne blocks add 0 when a branch is absent. Any other constant -> SCALAR, a capture-only node.
The hard_activations pass turns the written-out hard sigmoid relu6(x + 3) / 6 and hard swish
x * relu6(x + 3) / 6 into HARDSIGMOID / HARDSWISH and refuses every SCALAR left over (TFLite has
no exact int8 form of an arbitrary affine map on a tensor's own grid) as the call site that
convert.py records in the node's "refusal" attribute, with refusal_reason().

Division and subtraction have no other handler, so they are registered here. Addition and
multiplication belong to add.py and mul.py (two graph tensors); their scalar forms are FALLBACK_*
handlers, tried when the primary handler refuses the call."""
from __future__ import annotations

import operator

import torch

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops._base import OpCall, TensorArg, Unsupported, number
from catdeploy.ir.graph import Node

_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_IDENTITY = {"add": 0.0, "sub": 0.0, "mul": 1.0, "div": 1.0}   # x op c == x


def refusal_reason(node: Node) -> str:
    """Why a SCALAR node that no pattern absorbed is refused: 'x + 2.0 is not ...'."""
    return f"x {_SYMBOL[node.attrs['op']]} {node.attrs['value']!r} is not an identity or part of relu6(x + 3) / 6"


def _scalar_node(call: OpCall, op: str, x, value) -> Node:
    if not isinstance(x, TensorArg):
        raise Unsupported(f"{type(x).__name__} operand, expected a graph tensor and a number")
    c = number(value, "the constant operand")
    if c == _IDENTITY[op]:
        return call.node(CaptureKind.IDENTITY, [x])
    return call.node(CaptureKind.SCALAR, [x], {"op": op, "value": c})


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


def convert_sub(call: OpCall) -> Node:
    a = call.bind(lambda input, other, *, alpha=1: None)
    if a["alpha"] != 1:
        raise Unsupported(f"alpha={a['alpha']!r}")
    if not isinstance(a["input"], TensorArg):
        raise Unsupported("a number minus a tensor")
    if isinstance(a["other"], TensorArg):
        raise Unsupported("the difference of two graph tensors (the Graph has no SUB)")
    return _scalar_node(call, "sub", a["input"], a["other"])


def convert_div(call: OpCall) -> Node:
    a = call.bind(lambda input, other, *, rounding_mode=None: None)
    if a["rounding_mode"] is not None:
        raise Unsupported(f"rounding_mode={a['rounding_mode']!r}")
    if not isinstance(a["input"], TensorArg):
        raise Unsupported("a number divided by a tensor")
    if isinstance(a["other"], TensorArg):
        raise Unsupported("the quotient of two graph tensors (the Graph has no DIV)")
    return _scalar_node(call, "div", a["input"], a["other"])


convert_add_scalar = _commutative("add")
convert_mul_scalar = _commutative("mul")

FUNCTIONS = {operator.truediv: convert_div, operator.itruediv: convert_div, torch.div: convert_div,
             torch.true_divide: convert_div, operator.sub: convert_sub, operator.isub: convert_sub,
             torch.sub: convert_sub}
METHODS = {"div": convert_div, "div_": convert_div, "true_divide": convert_div, "true_divide_": convert_div,
           "sub": convert_sub, "sub_": convert_sub}
FALLBACK_FUNCTIONS = {operator.add: convert_add_scalar, operator.iadd: convert_add_scalar,
                      torch.add: convert_add_scalar, operator.mul: convert_mul_scalar,
                      operator.imul: convert_mul_scalar, torch.mul: convert_mul_scalar}
FALLBACK_METHODS = {"add": convert_add_scalar, "add_": convert_add_scalar, "mul": convert_mul_scalar,
                    "mul_": convert_mul_scalar}
