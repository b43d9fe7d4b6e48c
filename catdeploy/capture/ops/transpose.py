"""torch.transpose / Tensor.transpose of two non-batch dims -> TRANSPOSE (capture-only); the
channel_shuffle pass turns reshape / transpose / reshape into CHANNEL_SHUFFLE, and refuses any
other transpose."""
from __future__ import annotations

import torch

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops._base import OpCall, Unsupported, normalize_axis, tensor
from catdeploy.ir.graph import Node


def convert_transpose(call: OpCall) -> Node:
    a = call.bind(lambda input, dim0, dim1: None)
    x = tensor(a["input"])
    rank = len(x.shape)
    dims = tuple(sorted((normalize_axis(a["dim0"], rank), normalize_axis(a["dim1"], rank))))
    if dims[0] == 0:
        raise Unsupported("transpose of the batch dimension")
    return call.node(CaptureKind.TRANSPOSE, [x], {"dims": dims})


FUNCTIONS = {torch.transpose: convert_transpose}
METHODS = {"transpose": convert_transpose}
