"""nn.Conv2d, and F.conv2d with a stored weight -> CONV2D (groups == 1 or grouped) or
DEPTHWISE_CONV2D (groups == in_channels > 1), with a bias param always (zeros when the layer has
none)."""
from __future__ import annotations

import numpy as np
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, Unsupported, constant, pair, param, rank4
from catdeploy.ir.graph import Node, OpKind


def conv_padding(module: nn.Conv2d) -> tuple[int, int, int, int]:
    """The module's zero padding as (top, left, bottom, right); 'same' puts the odd cell at the end
    as torch does."""
    return _padding(module.padding, tuple(module.kernel_size), tuple(module.dilation))


def _padding(padding, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
            top, left = totals[0] // 2, totals[1] // 2
            return (top, left, totals[0] - top, totals[1] - left)
        raise Unsupported(f"padding={padding!r}")
    ph, pw = pair(padding, "padding")
    return (ph, pw, ph, pw)


def convert_conv2d(call: OpCall) -> Node:
    module = call.module
    assert isinstance(module, nn.Conv2d)
    x = rank4(call.bind(lambda input: None)["input"])
    if module.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={module.padding_mode!r}")
    weight = param(module.weight)
    bias = param(module.bias)
    if bias is None:
        bias = np.zeros(module.out_channels, dtype=np.float32)
    groups = module.groups
    kind = OpKind.DEPTHWISE_CONV2D if groups == module.in_channels and groups > 1 else OpKind.CONV2D
    attrs = {
        "stride": tuple(module.stride),
        "padding": conv_padding(module),
        "dilation": tuple(module.dilation),
        "groups": groups,
        "activation": "none",
    }
    return call.node(kind, [x], attrs, {"weight": weight, "bias": bias})


def convert_functional_conv2d(call: OpCall) -> Node:
    """F.conv2d(input, weight, bias, stride, padding, dilation, groups) with stored weight and bias."""
    a = call.bind(lambda input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1: None)
    x = rank4(a["input"])
    weight = constant(a["weight"], "weight")
    groups = a["groups"]
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise Unsupported(f"groups={groups!r}")
    if weight.ndim != 4 or weight.shape[1] * groups != x.shape[1]:
        raise Unsupported(f"weight of shape {weight.shape} with groups={groups} for {x.shape[1]} input channels")
    out_channels = weight.shape[0]
    bias = np.zeros(out_channels, dtype=np.float32) if a["bias"] is None else constant(a["bias"], "bias")
    if bias.shape != (out_channels,):
        raise Unsupported(f"bias has shape {bias.shape} for {out_channels} outputs")
    dilation = pair(a["dilation"], "dilation")
    kind = OpKind.DEPTHWISE_CONV2D if groups == x.shape[1] and groups > 1 else OpKind.CONV2D
    attrs = {
        "stride": pair(a["stride"], "stride"),
        "padding": _padding(a["padding"], tuple(weight.shape[2:]), dilation),
        "dilation": dilation,
        "groups": groups,
        "activation": "none",
    }
    return call.node(kind, [x], attrs, {"weight": weight, "bias": bias})


MODULES = {nn.Conv2d: convert_conv2d}
FUNCTIONS = {F.conv2d: convert_functional_conv2d}
