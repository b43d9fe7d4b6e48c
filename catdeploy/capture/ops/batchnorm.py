"""nn.BatchNorm2d (NCHW) and nn.BatchNorm1d (on [N, C]) in eval mode -> BATCHNORM, which the
fold_bn pass folds into the producing conv/linear (or turns into a per-channel affine op)."""
from __future__ import annotations

import numpy as np
import torch.nn as nn

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops._base import OpCall, Unsupported, param, tensor
from catdeploy.ir.graph import Node


def convert_batchnorm(call: OpCall) -> Node:
    module = call.module
    assert isinstance(module, nn.modules.batchnorm._BatchNorm)
    x = tensor(call.bind(lambda input: None)["input"])
    expected_rank = 4 if isinstance(module, nn.BatchNorm2d) else 2
    if len(x.shape) != expected_rank:
        raise Unsupported(f"input has shape {x.shape}, expected rank {expected_rank}")
    if module.running_mean is None or module.running_var is None:
        raise Unsupported("no running statistics (track_running_stats=False uses batch statistics)")
    channels = module.num_features
    weight = param(module.weight) if module.affine else np.ones(channels, dtype=np.float32)
    bias = param(module.bias) if module.affine else np.zeros(channels, dtype=np.float32)
    params = {"mean": param(module.running_mean), "var": param(module.running_var),
              "weight": weight, "bias": bias}
    return call.node(CaptureKind.BATCHNORM, [x], {"eps": float(module.eps)}, params)


MODULES = {nn.BatchNorm2d: convert_batchnorm, nn.BatchNorm1d: convert_batchnorm}
