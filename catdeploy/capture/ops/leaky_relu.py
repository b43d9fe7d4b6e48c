"""nn.LeakyReLU, F.leaky_relu and F.leaky_relu_ -> LEAKY_RELU.

torch multiplies by the slope cast to the tensor's dtype, so the slope is kept as its float32
value (the value TFLite's LeakyReluOptions.alpha stores)."""
from __future__ import annotations

import numpy as np
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, Unsupported, number, tensor
from catdeploy.ir.graph import Node, OpKind


def float32_slope(value, what: str) -> float:
    """A negative slope as the float32 value torch computes with (finite)."""
    slope = float(np.float32(number(value, what)))
    if not np.isfinite(slope):
        raise Unsupported(f"{what}={value!r} is not finite in float32")
    return slope


def convert_leaky_relu(call: OpCall) -> Node:
    module = call.module
    if module is not None:
        assert isinstance(module, nn.LeakyReLU)
        x, slope = call.bind(lambda input: None)["input"], module.negative_slope
    else:
        a = call.bind(lambda input, negative_slope=0.01, inplace=False: None)
        x, slope = a["input"], a["negative_slope"]
    return call.node(OpKind.LEAKY_RELU, [tensor(x)], {"negative_slope": float32_slope(slope, "negative_slope")})


MODULES = {nn.LeakyReLU: convert_leaky_relu}
FUNCTIONS = {F.leaky_relu: convert_leaky_relu, F.leaky_relu_: convert_leaky_relu}
