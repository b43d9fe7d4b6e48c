"""nn.BatchNorm2d (NCHW) and nn.BatchNorm1d (on [N, C]) in eval mode, and F.batch_norm with stored
running statistics (timm's BatchNormAct2d calls it, then its drop path and activation modules) ->
BATCHNORM, which the fold_bn pass folds into the producing conv/linear (or turns into a
per-channel affine op)."""
from __future__ import annotations

import numpy as np
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops._base import OpCall, Unsupported, constant, param, tensor
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


def convert_functional_batchnorm(call: OpCall) -> Node:
    """F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps) with
    training=False and the statistics and affine parameters stored tensors."""
    a = call.bind(lambda input, running_mean, running_var, weight=None, bias=None, training=False,
                  momentum=0.1, eps=1e-5: None)
    x = tensor(a["input"])
    if len(x.shape) not in (2, 4):
        raise Unsupported(f"input has shape {x.shape}, expected NCHW or [N, C]")
    if a["training"]:
        raise Unsupported("training=True normalizes with batch statistics")
    if a["running_mean"] is None or a["running_var"] is None:
        raise Unsupported("no running statistics (normalizes with batch statistics)")
    channels = x.shape[1]
    params = {"mean": constant(a["running_mean"], "running_mean"),
              "var": constant(a["running_var"], "running_var"),
              "weight": (np.ones(channels, dtype=np.float32) if a["weight"] is None
                         else constant(a["weight"], "weight")),
              "bias": (np.zeros(channels, dtype=np.float32) if a["bias"] is None
                       else constant(a["bias"], "bias"))}
    for key, value in params.items():
        if value.shape != (channels,):
            raise Unsupported(f"{key} has shape {value.shape} for {channels} channels")
    return call.node(CaptureKind.BATCHNORM, [x], {"eps": float(a["eps"])}, params)


MODULES = {nn.BatchNorm2d: convert_batchnorm, nn.BatchNorm1d: convert_batchnorm}
FUNCTIONS = {F.batch_norm: convert_functional_batchnorm}
