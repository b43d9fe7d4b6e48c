"""Registry: IntOp kind -> OpSpec, one module per TFLite builtin op."""
from __future__ import annotations

from types import MappingProxyType

from catdeploy.export.tflite.ops import (
    add, arg_max, average_pool_2d, cast, concatenation, conv_2d, depthwise_conv_2d, dequantize,
    fully_connected, gather, hard_swish, leaky_relu, logistic, max_pool_2d, maximum, minimum, mul,
    pad, prelu, quantize, reshape,
)
from catdeploy.export.tflite.ops._common import OpSpec

OP_SPECS: MappingProxyType[str, OpSpec] = MappingProxyType({
    m.SPEC.kind: m.SPEC for m in (
        conv_2d, depthwise_conv_2d, fully_connected, add, average_pool_2d, max_pool_2d, reshape,
        pad, concatenation, minimum, maximum, quantize, dequantize, arg_max, gather, mul, logistic,
        hard_swish, cast, leaky_relu, prelu,
    )
})

__all__ = ["OP_SPECS", "OpSpec"]
