"""Clamps with constant bounds: hardtanh(0, 6) / clamp(0, 6) -> RELU6, clamp(min=0) -> RELU,
any other constant range (nn.Hardtanh(min_val, max_val), F.hardtanh, torch.clamp / clip /
clamp_min / clamp_max, one bound or two) -> CLAMP. An infinite bound is no bound."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.ops._base import OpCall, TensorArg, Unsupported, number, tensor
from catdeploy.ir.graph import Node, OpKind


def _clamp_node(call: OpCall, x: TensorArg, low: float | None, high: float | None) -> Node:
    if low is not None and math.isnan(low) or high is not None and math.isnan(high):
        raise Unsupported(f"clamp to [{low}, {high}] (a NaN bound)")
    low = None if low is None or low == -math.inf else low
    high = None if high is None or high == math.inf else high
    if low == 0.0 and high == 6.0:
        return call.node(OpKind.RELU6, [x])
    if low == 0.0 and high is None:
        return call.node(OpKind.RELU, [x])
    if low is None and high is None:
        raise Unsupported("clamp without a finite bound")
    if low is not None and high is not None and not low < high:
        raise Unsupported(f"clamp to [{low}, {high}] (min must be below max)")
    return call.node(OpKind.CLAMP, [x], {"min": low, "max": high})


def convert_hardtanh(call: OpCall) -> Node:
    module = call.module
    if module is not None:
        assert isinstance(module, nn.Hardtanh)
        x, low, high = call.bind(lambda input: None)["input"], module.min_val, module.max_val
    else:
        a = call.bind(lambda input, min_val=-1.0, max_val=1.0, inplace=False: None)
        x, low, high = a["input"], a["min_val"], a["max_val"]
    return _clamp_node(call, tensor(x), number(low, "min_val"), number(high, "max_val"))


def convert_clamp(call: OpCall) -> Node:
    a = call.bind(lambda input, min=None, max=None: None)
    low = None if a["min"] is None else number(a["min"], "min")
    high = None if a["max"] is None else number(a["max"], "max")
    return _clamp_node(call, tensor(a["input"]), low, high)


def convert_clamp_min(call: OpCall) -> Node:
    a = call.bind(lambda input, min: None)
    return _clamp_node(call, tensor(a["input"]), number(a["min"], "min"), None)


def convert_clamp_max(call: OpCall) -> Node:
    a = call.bind(lambda input, max: None)
    return _clamp_node(call, tensor(a["input"]), None, number(a["max"], "max"))


MODULES = {nn.Hardtanh: convert_hardtanh}  # nn.ReLU6 subclasses Hardtanh but is matched exactly first
FUNCTIONS = {F.hardtanh: convert_hardtanh, F.hardtanh_: convert_hardtanh, torch.clamp: convert_clamp,
             torch.clip: convert_clamp, torch.clamp_min: convert_clamp_min, torch.clamp_max: convert_clamp_max}
METHODS = {"clamp": convert_clamp, "clamp_": convert_clamp, "clip": convert_clamp,
           "clip_": convert_clamp, "clamp_min": convert_clamp_min, "clamp_min_": convert_clamp_min,
           "clamp_max": convert_clamp_max, "clamp_max_": convert_clamp_max}
