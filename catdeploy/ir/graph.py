"""Float graph IR: canonical ops in NCHW, produced by capture, consumed by quant and lower.

A Graph is immutable: stages build new graphs instead of editing one in place.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np


class OpKind(str, enum.Enum):
    """Canonical float ops. Attribute names per kind are listed in ATTRS below."""

    CONV2D = "CONV2D"                    # groups == 1 or grouped (1 < groups < in_channels)
    DEPTHWISE_CONV2D = "DEPTHWISE_CONV2D"  # groups == in_channels
    LINEAR = "LINEAR"
    ADD = "ADD"
    MUL = "MUL"
    RELU = "RELU"
    RELU6 = "RELU6"
    HARDSWISH = "HARDSWISH"
    MAX_POOL2D = "MAX_POOL2D"
    AVG_POOL2D = "AVG_POOL2D"
    GLOBAL_AVG_POOL = "GLOBAL_AVG_POOL"  # mean over H, W; output [N, C, 1, 1]
    FLATTEN = "FLATTEN"                  # [N, C, 1, 1] or [N, C, H, W] -> [N, C*H*W]
    CONCAT = "CONCAT"
    PAD = "PAD"
    SIGMOID = "SIGMOID"                  # 1 / (1 + exp(-x)); output in (0, 1)
    HARDSIGMOID = "HARDSIGMOID"          # relu6(x + 3) / 6; output in [0, 1]
    SILU = "SILU"                        # x * sigmoid(x)
    CHANNEL_SHUFFLE = "CHANNEL_SHUFFLE"  # output channel c reads (c % groups) * (C / groups) + c // groups
    SLICE = "SLICE"                      # x[:, start:stop] along one non-batch axis
    LEAKY_RELU = "LEAKY_RELU"            # x if x >= 0 else negative_slope * x
    PRELU = "PRELU"                      # x if x >= 0 else alpha[c] * x (channel axis 1)
    CLAMP = "CLAMP"                      # min(max(x, min), max); either bound may be None


# Attributes each kind carries (all plain Python values, JSON-serialisable).
#   CONV2D / DEPTHWISE_CONV2D: stride (h, w), padding (top, left, bottom, right), dilation (h, w),
#       groups, activation ("none" | "relu" | "relu6")
#   LINEAR: activation
#   ADD: activation
#   MAX_POOL2D / AVG_POOL2D: kernel (h, w), stride (h, w), padding (top, left, bottom, right),
#       ceil_mode (bool), count_include_pad (bool, AVG only)
#   CONCAT: axis (NCHW axis)
#   PAD: pads (top, left, bottom, right), value (float)
#   CHANNEL_SHUFFLE: groups (reshape [N, g, C/g, H, W], swap dims 1 and 2, reshape back)
#   SLICE: axis (NCHW axis, not 0), start, stop (0 <= start < stop <= size)
#   LEAKY_RELU: negative_slope (float)
#   PRELU: alpha (one float per channel, at least two distinct; a single slope is LEAKY_RELU)
#   CLAMP: min, max (float or None, not both None, min < max); [0, 6] and [0, None] are RELU6 / RELU
# Parameters (numpy float32): CONV2D/DEPTHWISE_CONV2D "weight" [OC, IC/groups, KH, KW] and
# "bias" [OC] (always present after capture: zeros when the layer had none); LINEAR "weight"
# [OUT, IN] and "bias" [OUT].
ACTIVATIONS = ("none", "relu", "relu6")


@dataclass(frozen=True)
class Value:
    """A tensor flowing between nodes. Shape is NCHW with the batch dimension as captured."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class Node:
    name: str                      # torch module path or fx node name
    kind: OpKind
    inputs: tuple[str, ...]        # value names
    outputs: tuple[str, ...]       # value names
    attrs: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def output(self) -> str:
        return self.outputs[0]


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]            # topologically ordered
    values: Mapping[str, Value]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    name: str = "model"

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    @cached_property
    def producers(self) -> Mapping[str, Node]:
        """{value name: the node that writes it}, built once per graph (graph inputs are absent)."""
        index: dict[str, Node] = {}
        for node in self.nodes:
            for value_name in node.outputs:
                index.setdefault(value_name, node)
        return MappingProxyType(index)

    def producer(self, value_name: str) -> Node | None:
        """The node that writes `value_name`, or None for a graph input."""
        return self.producers.get(value_name)

    def consumers(self, value_name: str) -> list[Node]:
        return [n for n in self.nodes if value_name in n.inputs]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
