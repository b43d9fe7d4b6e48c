"""Clamps that are activations: hardtanh(0, 6) / clamp(0, 6) -> RELU6, clamp(min=0) -> RELU."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, Unsupported, number, tensor
from catdeploy.ir.graph import Node, OpKind


def _kind_for(low: float | None, high: float | None) -> OpKind:
    if low == 0.0 and high == 6.0:
        return OpKind.RELU6
    if low == 0.0 and (high is None or high == math.inf):
        return OpKind.RELU
    raise Unsupported(f"clamp to [{low}, {high}] (only [0, 6] and [0, inf) are activations)")


def convert_hardtanh(call: OpCall) -> Node:
    module = call.module
    if module is not None:
        assert isinstance(module, nn.Hardtanh)
        x, low, high = call.bind(lambda input: None)["input"], module.min_val, module.max_val
    else:
        a = call.bind(lambda input, min_val=-1.0, max_val=1.0, inplace=False: None)
        x, low, high = a["input"], a["min_val"], a["max_val"]
    return call.node(_kind_for(number(low, "min_val"), number(high, "max_val")), [tensor(x)])


def convert_clamp(call: OpCall) -> Node:
    a = call.bind(lambda input, min=None, max=None: None)
    low = None if a["min"] is None else number(a["min"], "min")
    high = None if a["max"] is None else number(a["max"], "max")
    return call.node(_kind_for(low, high), [tensor(a["input"])])


MODULES = {nn.Hardtanh: convert_hardtanh}  # nn.ReLU6 subclasses Hardtanh but is matched exactly first
FUNCTIONS = {F.hardtanh: convert_hardtanh, F.hardtanh_: convert_hardtanh, torch.clamp: convert_clamp,
             torch.clip: convert_clamp}
METHODS = {"clamp": convert_clamp, "clamp_": convert_clamp, "clip": convert_clamp,
           "clip_": convert_clamp}
