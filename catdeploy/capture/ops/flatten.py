"""Reshapes that flatten per sample -> FLATTEN: torch.flatten / Tensor.flatten / nn.Flatten,
view / reshape to (N, -1), squeeze of [N, C, 1, 1]. Decided from the captured shapes: the result
must be [N, prod(rest)] with N the input's batch dimension. Other view / reshape / unsqueeze calls
that keep the batch dimension become RESHAPE (capture-only), which the vector_reshape pass
([N, C] <-> [N, C, 1, 1]) and the channel_shuffle pass resolve, and the latter refuses."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops._base import OpCall, Unsupported, tensor
from catdeploy.ir.graph import Node, OpKind


def convert_flatten(call: OpCall) -> Node:
    x = tensor(call.args[0] if call.args else call.kwargs.get("input"))
    out = call.output_shape
    if not (len(x.shape) >= 2 and len(out) == 2 and out[0] == x.shape[0]
            and out[1] == math.prod(x.shape[1:])):
        if (call.module is None and out and out[0] == x.shape[0] and math.prod(out) == math.prod(x.shape)
                and len(x.shape) >= 2 and (len(out) > 2 or len(x.shape) > 2)):
            return call.node(CaptureKind.RESHAPE, [x], {"shape": tuple(out)})
        raise Unsupported(f"reshape {x.shape} -> {out} is not a per-sample flatten to [N, features]")
    if call.module is not None and not isinstance(call.module, nn.Flatten):
        raise Unsupported(f"module {type(call.module).__name__}")
    return call.node(OpKind.FLATTEN, [x])


MODULES = {nn.Flatten: convert_flatten}
FUNCTIONS = {torch.flatten: convert_flatten, torch.reshape: convert_flatten,
             torch.squeeze: convert_flatten, torch.unsqueeze: convert_flatten}
METHODS = {"flatten": convert_flatten, "view": convert_flatten, "reshape": convert_flatten,
           "squeeze": convert_flatten, "unsqueeze": convert_flatten}
