"""torch.mean / Tensor.mean over H and W of an NCHW tensor -> MEAN; canonicalize makes it
GLOBAL_AVG_POOL (followed by FLATTEN when keepdim is False)."""
from __future__ import annotations

import torch

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops._base import OpCall, Unsupported, normalize_axis, rank4
from catdeploy.ir.graph import Node


def convert_mean(call: OpCall) -> Node:
    a = call.bind(lambda input, dim=None, keepdim=False, *, dtype=None: None)
    x = rank4(a["input"])
    if a["dtype"] not in (None, torch.float32):
        raise Unsupported(f"dtype={a['dtype']}")
    dims = a["dim"]
    if dims is None:
        raise Unsupported("mean over all dimensions")
    if isinstance(dims, int):
        dims = (dims,)
    dims = tuple(sorted({normalize_axis(d, 4) for d in dims}))
    if dims != (2, 3):
        raise Unsupported(f"mean over dims {dims} (only over H and W, dims (2, 3))")
    return call.node(CaptureKind.MEAN, [x], {"dims": dims, "keepdim": bool(a["keepdim"])})


FUNCTIONS = {torch.mean: convert_mean}
METHODS = {"mean": convert_mean}
