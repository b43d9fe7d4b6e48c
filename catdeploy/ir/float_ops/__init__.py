"""Float reference of every OpKind, one file per op: run(node, inputs, params) -> tensor.

Inputs and params are float32 torch tensors (NCHW, batched); the functions are differentiable so
the quantization stage can optimise through them.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch

from catdeploy.ir.float_ops import (
    add, avg_pool2d, channel_shuffle, clamp, concat, conv2d, depthwise_conv2d, flatten, global_avg_pool,
    hardsigmoid, hardswish, leaky_relu, linear, max_pool2d, mul, pad, prelu, relu, relu6, sigmoid, silu,
    slice,
)
from catdeploy.ir.graph import Node, OpKind

FloatOp = Callable[[Node, Sequence[torch.Tensor], Mapping[str, torch.Tensor]], torch.Tensor]

FLOAT_OPS: Mapping[OpKind, FloatOp] = {
    OpKind.CONV2D: conv2d.run,
    OpKind.DEPTHWISE_CONV2D: depthwise_conv2d.run,
    OpKind.LINEAR: linear.run,
    OpKind.ADD: add.run,
    OpKind.MUL: mul.run,
    OpKind.RELU: relu.run,
    OpKind.RELU6: relu6.run,
    OpKind.HARDSWISH: hardswish.run,
    OpKind.MAX_POOL2D: max_pool2d.run,
    OpKind.AVG_POOL2D: avg_pool2d.run,
    OpKind.GLOBAL_AVG_POOL: global_avg_pool.run,
    OpKind.FLATTEN: flatten.run,
    OpKind.CONCAT: concat.run,
    OpKind.PAD: pad.run,
    OpKind.SIGMOID: sigmoid.run,
    OpKind.HARDSIGMOID: hardsigmoid.run,
    OpKind.SILU: silu.run,
    OpKind.CHANNEL_SHUFFLE: channel_shuffle.run,
    OpKind.SLICE: slice.run,
    OpKind.LEAKY_RELU: leaky_relu.run,
    OpKind.PRELU: prelu.run,
    OpKind.CLAMP: clamp.run,
}
