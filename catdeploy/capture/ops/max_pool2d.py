"""nn.MaxPool2d and F.max_pool2d -> MAX_POOL2D (no dilation, no indices)."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, Unsupported, pair, rank4
from catdeploy.ir.graph import Node, OpKind


def pool_attrs(kernel_size, stride, padding, ceil_mode) -> dict:
    """Common MAX/AVG pool attrs; stride None or empty means stride = kernel (torch's default)."""
    kernel = pair(kernel_size, "kernel_size")
    strides = kernel if stride is None or stride == () or stride == [] else pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    if 2 * ph > kernel[0] or 2 * pw > kernel[1]:
        raise Unsupported(f"padding {(ph, pw)} is more than half the kernel {kernel}")
    return {"kernel": kernel, "stride": strides, "padding": (ph, pw, ph, pw), "ceil_mode": bool(ceil_mode)}


def convert_max_pool2d(call: OpCall) -> Node:
    module = call.module
    if module is not None:
        assert isinstance(module, nn.MaxPool2d)
        x = call.bind(lambda input: None)["input"]
        a = {"kernel_size": module.kernel_size, "stride": module.stride, "padding": module.padding,
             "dilation": module.dilation, "ceil_mode": module.ceil_mode,
             "return_indices": module.return_indices}
    else:
        a = call.bind(lambda input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                      return_indices=False: None)
        x = a["input"]
    if pair(a["dilation"], "dilation") != (1, 1):
        raise Unsupported(f"dilation={a['dilation']!r}")
    if a["return_indices"]:
        raise Unsupported("return_indices=True")
    attrs = pool_attrs(a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"])
    return call.node(OpKind.MAX_POOL2D, [rank4(x)], attrs)


MODULES = {nn.MaxPool2d: convert_max_pool2d}
FUNCTIONS = {F.max_pool2d: convert_max_pool2d}
