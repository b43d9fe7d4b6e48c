"""Float lowering per Graph op (catdeploy.lower.float_program), one file per op: OpKind -> function."""
from __future__ import annotations

from catdeploy.ir.graph import OpKind
from catdeploy.lower.float_ops.add import lower_add
from catdeploy.lower.float_ops.avg_pool2d import lower_avg_pool2d
from catdeploy.lower.float_ops.channel_shuffle import lower_channel_shuffle
from catdeploy.lower.float_ops.clamp import lower_clamp
from catdeploy.lower.float_ops.concat import lower_concat
from catdeploy.lower.float_ops.conv2d import lower_conv2d
from catdeploy.lower.float_ops.flatten import lower_flatten
from catdeploy.lower.float_ops.global_avg_pool import lower_global_avg_pool
from catdeploy.lower.float_ops.hardsigmoid import lower_hardsigmoid
from catdeploy.lower.float_ops.hardswish import lower_hardswish
from catdeploy.lower.float_ops.leaky_relu import lower_leaky_relu
from catdeploy.lower.float_ops.linear import lower_linear
from catdeploy.lower.float_ops.max_pool2d import lower_max_pool2d
from catdeploy.lower.float_ops.mul import lower_mul
from catdeploy.lower.float_ops.pad import lower_pad
from catdeploy.lower.float_ops.prelu import lower_prelu
from catdeploy.lower.float_ops.relu import lower_relu
from catdeploy.lower.float_ops.sigmoid import lower_sigmoid
from catdeploy.lower.float_ops.silu import lower_silu
from catdeploy.lower.float_ops.slice import lower_slice

REGISTRY = {
    OpKind.CONV2D: lower_conv2d, OpKind.DEPTHWISE_CONV2D: lower_conv2d, OpKind.LINEAR: lower_linear,
    OpKind.ADD: lower_add, OpKind.MUL: lower_mul, OpKind.RELU: lower_relu, OpKind.RELU6: lower_relu,
    OpKind.HARDSWISH: lower_hardswish, OpKind.SIGMOID: lower_sigmoid, OpKind.HARDSIGMOID: lower_hardsigmoid,
    OpKind.SILU: lower_silu, OpKind.MAX_POOL2D: lower_max_pool2d, OpKind.AVG_POOL2D: lower_avg_pool2d,
    OpKind.GLOBAL_AVG_POOL: lower_global_avg_pool, OpKind.FLATTEN: lower_flatten, OpKind.PAD: lower_pad,
    OpKind.CONCAT: lower_concat, OpKind.CHANNEL_SHUFFLE: lower_channel_shuffle, OpKind.SLICE: lower_slice,
    OpKind.LEAKY_RELU: lower_leaky_relu, OpKind.PRELU: lower_prelu, OpKind.CLAMP: lower_clamp,
}
