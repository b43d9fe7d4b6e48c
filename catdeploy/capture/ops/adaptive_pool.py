"""Adaptive average/max pooling -> ADAPTIVE_AVG_POOL / ADAPTIVE_MAX_POOL with a resolved
output size; canonicalize turns them into GLOBAL_AVG_POOL, AVG_POOL2D or MAX_POOL2D. Only output
sizes that divide the input evenly (uniform windows) are supported."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops._base import OpCall, Unsupported, rank4
from catdeploy.ir.graph import Node


def _output_size(output_size, height: int, width: int) -> tuple[int, int]:
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2:
        raise Unsupported(f"output_size={output_size!r}")
    oh = height if output_size[0] is None else int(output_size[0])
    ow = width if output_size[1] is None else int(output_size[1])
    if oh < 1 or ow < 1 or height % oh or width % ow:
        raise Unsupported(f"output size {(oh, ow)} does not divide the input size {(height, width)}")
    return (oh, ow)


def _convert(call: OpCall, kind: CaptureKind) -> Node:
    module = call.module
    if module is not None:
        x = rank4(call.bind(lambda input: None)["input"])
        output_size = module.output_size
        return_indices = getattr(module, "return_indices", False)
    else:
        a = call.bind(lambda input, output_size, return_indices=False: None)
        x, output_size, return_indices = rank4(a["input"]), a["output_size"], a["return_indices"]
    if return_indices:
        raise Unsupported("return_indices=True")
    size = _output_size(output_size, x.shape[2], x.shape[3])
    return call.node(kind, [x], {"output_size": size})


def convert_adaptive_avg_pool(call: OpCall) -> Node:
    return _convert(call, CaptureKind.ADAPTIVE_AVG_POOL)


def convert_adaptive_max_pool(call: OpCall) -> Node:
    return _convert(call, CaptureKind.ADAPTIVE_MAX_POOL)


MODULES = {nn.AdaptiveAvgPool2d: convert_adaptive_avg_pool, nn.AdaptiveMaxPool2d: convert_adaptive_max_pool}
FUNCTIONS = {F.adaptive_avg_pool2d: convert_adaptive_avg_pool,
             F.adaptive_max_pool2d: convert_adaptive_max_pool}
