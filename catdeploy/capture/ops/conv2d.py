"""nn.Conv2d -> CONV2D (groups == 1 or grouped) or DEPTHWISE_CONV2D (groups == in_channels > 1),
with a bias param always (zeros when the layer has none)."""
from __future__ import annotations

import numpy as np
import torch.nn as nn

from catdeploy.capture.ops._base import OpCall, Unsupported, param, rank4
from catdeploy.ir.graph import Node, OpKind


def conv_padding(module: nn.Conv2d) -> tuple[int, int, int, int]:
    """The module's zero padding as (top, left, bottom, right); 'same' puts the odd cell at the end
    as torch does."""
    if isinstance(module.padding, str):
        if module.padding == "valid":
            return (0, 0, 0, 0)
        if module.padding == "same":
            totals = [d * (k - 1) for d, k in zip(module.dilation, module.kernel_size)]
            top, left = totals[0] // 2, totals[1] // 2
            return (top, left, totals[0] - top, totals[1] - left)
        raise Unsupported(f"padding={module.padding!r}")
    ph, pw = module.padding
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


MODULES = {nn.Conv2d: convert_conv2d}
