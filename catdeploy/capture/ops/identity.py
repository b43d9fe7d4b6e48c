"""Ops that do nothing at inference -> IDENTITY, removed by the remove_identity pass: dropout in
eval mode, stochastic depth in eval mode (torchvision.ops.StochasticDepth / stochastic_depth),
nn.Identity, contiguous / clone / detach."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.ops

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops._base import OpCall, Unsupported, tensor
from catdeploy.ir.graph import Node


def convert_identity(call: OpCall) -> Node:
    x = call.args[0] if call.args else call.kwargs.get("input")
    return call.node(CaptureKind.IDENTITY, [tensor(x)])


def convert_functional_dropout(call: OpCall) -> Node:
    a = call.bind(lambda input, p=0.5, training=True, inplace=False: None)
    if a["training"]:
        raise Unsupported("dropout with training=True is random at inference")
    return call.node(CaptureKind.IDENTITY, [tensor(a["input"])])


def convert_stochastic_depth(call: OpCall) -> Node:
    """torchvision.ops.stochastic_depth(input, p, mode, training=True): identity when not training
    (or p == 0); the module form is always captured in eval mode."""
    if call.module is not None:
        return convert_identity(call)
    a = call.bind(lambda input, p, mode, training=True: None)
    if a["training"] and a["p"] != 0:
        raise Unsupported("stochastic depth with training=True is random at inference")
    return call.node(CaptureKind.IDENTITY, [tensor(a["input"])])


MODULES = {
    torchvision.ops.StochasticDepth: convert_stochastic_depth,
    nn.Identity: convert_identity,
    nn.Dropout: convert_identity,
    nn.Dropout1d: convert_identity,
    nn.Dropout2d: convert_identity,
    nn.Dropout3d: convert_identity,
    nn.AlphaDropout: convert_identity,
    nn.FeatureAlphaDropout: convert_identity,
}
FUNCTIONS = {torchvision.ops.stochastic_depth: convert_stochastic_depth, F.dropout: convert_functional_dropout, F.dropout1d: convert_functional_dropout,
             F.dropout2d: convert_functional_dropout, F.alpha_dropout: convert_functional_dropout,
             F.feature_alpha_dropout: convert_functional_dropout, torch.clone: convert_identity,
             torch.detach: convert_identity}
METHODS = {"contiguous": convert_identity, "clone": convert_identity, "detach": convert_identity}
