"""IntProgram: the integer-only program that lowering produces and the TFLite writer serialises.

It mirrors the TFLite model structure one to one (NHWC layouts, TFLite builtin op names and option
names) so that the writer is a plain translation and catrt, which reads the written file, sees
exactly these tensors and ops. No torch here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

# TFLite builtin op names the exporter may emit, with the options each IntOp.options carries:
#   CONV_2D:            padding ("SAME"|"VALID"), stride_h, stride_w, dilation_h, dilation_w,
#                       fused_activation ("NONE"|"RELU"|"RELU6")
#   DEPTHWISE_CONV_2D:  same as CONV_2D + depth_multiplier
#   FULLY_CONNECTED:    fused_activation, keep_num_dims (bool); int8 x int8 -> int8 with an int32
#                       bias, or 16x8: int16 x int8 per-channel -> int16 with an int64 bias
#   ADD:                fused_activation
#   AVERAGE_POOL_2D / MAX_POOL_2D: padding, stride_h, stride_w, filter_h, filter_w, fused_activation
#   RESHAPE:            new_shape (tuple of ints; -1 allowed once)
#   PAD:                (inputs: x, paddings int32 [4, 2] constant)
#   CONCATENATION:      axis, fused_activation
#   MINIMUM / MAXIMUM:  (inputs: x, int8 scalar constant with x's qparams)
#   QUANTIZE / DEQUANTIZE: (none)
#   ARG_MAX:            output_type ("INT32")  (inputs: x, int32 axis constant)
#   GATHER:             axis, batch_dims
#   MUL:                fused_activation (two int8 inputs with their own qparams, broadcast)
#   LOGISTIC / HARD_SWISH: (none)
#   CAST:               (none; raw values widened: int8 -> int16, int16 -> int32)
#   LEAKY_RELU:         alpha (float32 slope)
#   PRELU:              (inputs: x, int8 constant slopes broadcast along the last axis)
OP_NAMES = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
    "RESHAPE", "PAD", "CONCATENATION", "MINIMUM", "MAXIMUM", "QUANTIZE", "DEQUANTIZE", "ARG_MAX",
    "GATHER", "MUL", "LOGISTIC", "HARD_SWISH", "CAST", "LEAKY_RELU", "PRELU",
)
DTYPES = ("int8", "int16", "int32", "int64", "float32")


@dataclass(frozen=True)
class IntTensor:
    """One TFLite tensor. `data` is set for constants (weights, biases, shapes), else None.

    scale / zero_point: per-tensor (length 1) or per-channel along `quantized_dimension`;
    None for tensors without quantization (int32 shape/axis constants, float I/O).
    `bits`: the planned bit width of the values (metadata for inspect; 8 for plain int8).
    `buffer_key`: tensors with the same non-None key share one TFLite buffer (e.g. CAT heads).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...] | None = None
    zero_point: tuple[int, ...] | None = None
    quantized_dimension: int = 0
    data: np.ndarray | None = None
    bits: int | None = None
    buffer_key: str | None = None


@dataclass(frozen=True)
class IntOp:
    kind: str                      # one of OP_NAMES
    inputs: tuple[str, ...]        # tensor names; "" for an omitted optional input
    outputs: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""                 # source layer (Graph node name), for errors and inspect

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


@dataclass(frozen=True)
class IntProgram:
    tensors: Mapping[str, IntTensor]
    ops: tuple[IntOp, ...]           # topological order
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", MappingProxyType(dict(self.tensors)))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
