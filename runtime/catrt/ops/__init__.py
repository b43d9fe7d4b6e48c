"""Op registry: TFLite builtin op name -> module with prepare(op, tensors, profile) and
evaluate(params, inputs). Adding an op = one module here + one in kernels/."""
from __future__ import annotations

from types import MappingProxyType

from . import (add, arg_max, average_pool_2d, cast, concatenation, conv_2d, depthwise_conv_2d,
               dequantize, fully_connected, gather, hard_swish, leaky_relu, logistic, max_pool_2d,
               maximum, minimum, mul, pad, prelu, quantize, reshape)

REGISTRY = MappingProxyType({
    "ADD": add,
    "ARG_MAX": arg_max,
    "AVERAGE_POOL_2D": average_pool_2d,
    "CAST": cast,
    "CONCATENATION": concatenation,
    "CONV_2D": conv_2d,
    "DEPTHWISE_CONV_2D": depthwise_conv_2d,
    "DEQUANTIZE": dequantize,
    "FULLY_CONNECTED": fully_connected,
    "GATHER": gather,
    "HARD_SWISH": hard_swish,
    "LEAKY_RELU": leaky_relu,
    "LOGISTIC": logistic,
    "MAX_POOL_2D": max_pool_2d,
    "MAXIMUM": maximum,
    "MINIMUM": minimum,
    "MUL": mul,
    "PAD": pad,
    "PRELU": prelu,
    "QUANTIZE": quantize,
    "RESHAPE": reshape,
})
