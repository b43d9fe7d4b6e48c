"""torch.cat / torch.concat / torch.concatenate of graph tensors -> CONCAT (axis non-negative,
never the batch axis)."""
from __future__ import annotations

import torch

from catdeploy.capture.ops._base import OpCall, Unsupported, normalize_axis, tensor
from catdeploy.ir.graph import Node, OpKind


def convert_concat(call: OpCall) -> Node:
    a = call.bind(lambda tensors, dim=0: None)
    if not isinstance(a["tensors"], (tuple, list)) or not a["tensors"]:
        raise Unsupported("tensors is not a list of tensors")
    inputs = [tensor(t, f"tensor {i}") for i, t in enumerate(a["tensors"])]
    axis = normalize_axis(a["dim"], len(inputs[0].shape))
    if axis == 0:
        raise Unsupported("concatenation along the batch dimension")
    return call.node(OpKind.CONCAT, inputs, {"axis": axis})


FUNCTIONS = {torch.cat: convert_concat, torch.concat: convert_concat,
             torch.concatenate: convert_concat}
