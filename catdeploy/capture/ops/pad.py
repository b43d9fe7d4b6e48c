"""Constant padding of H and W -> PAD: F.pad (mode 'constant'), nn.ZeroPad2d, nn.ConstantPad2d."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, Unsupported, number, rank4
from catdeploy.ir.graph import Node, OpKind


def _pads(pad) -> tuple[int, int, int, int]:
    """torch's (left, right, top, bottom[, more dims...]) -> (top, left, bottom, right)."""
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not all(isinstance(p, int) for p in pad):
        raise Unsupported(f"pad={pad!r}")
    pad = tuple(pad) + (0,) * max(0, 4 - len(pad))
    if any(pad[4:]):
        raise Unsupported(f"pad={pad!r} pads more than H and W")
    left, right, top, bottom = pad[:4]
    if min(left, right, top, bottom) < 0:
        raise Unsupported(f"negative pad {pad!r} (cropping)")
    return (top, left, bottom, right)


def convert_pad(call: OpCall) -> Node:
    module = call.module
    if module is not None:
        assert isinstance(module, (nn.ZeroPad2d, nn.ConstantPad2d))
        x = call.bind(lambda input: None)["input"]
        pad, value = module.padding, module.value
    else:
        a = call.bind(lambda input, pad, mode="constant", value=None: None)
        if a["mode"] != "constant":
            raise Unsupported(f"mode={a['mode']!r}")
        x, pad, value = a["input"], a["pad"], a["value"]
    value = 0.0 if value is None else number(value, "value")
    return call.node(OpKind.PAD, [rank4(x)], {"pads": _pads(pad), "value": value})


MODULES = {nn.ZeroPad2d: convert_pad, nn.ConstantPad2d: convert_pad}
FUNCTIONS = {F.pad: convert_pad}
