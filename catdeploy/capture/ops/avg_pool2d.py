"""nn.AvgPool2d and F.avg_pool2d -> AVG_POOL2D (no divisor_override)."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, Unsupported, rank4
from catdeploy.capture.ops.max_pool2d import pool_attrs
from catdeploy.ir.graph import Node, OpKind


def convert_avg_pool2d(call: OpCall) -> Node:
    module = call.module
    if module is not None:
        assert isinstance(module, nn.AvgPool2d)
        x = call.bind(lambda input: None)["input"]
        a = {"kernel_size": module.kernel_size, "stride": module.stride, "padding": module.padding,
             "ceil_mode": module.ceil_mode, "count_include_pad": module.count_include_pad,
             "divisor_override": module.divisor_override}
    else:
        a = call.bind(lambda input, kernel_size, stride=None, padding=0, ceil_mode=False,
                      count_include_pad=True, divisor_override=None: None)
        x = a["input"]
    if a["divisor_override"] is not None:
        raise Unsupported(f"divisor_override={a['divisor_override']!r}")
    attrs = pool_attrs(a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"])
    attrs["count_include_pad"] = bool(a["count_include_pad"])
    return call.node(OpKind.AVG_POOL2D, [rank4(x)], attrs)


MODULES = {nn.AvgPool2d: convert_avg_pool2d}
FUNCTIONS = {F.avg_pool2d: convert_avg_pool2d}
