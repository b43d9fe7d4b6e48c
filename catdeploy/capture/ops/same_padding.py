"""TensorFlow-style "SAME" padding computed from the input size at run time (timm's Conv2dSame,
MaxPool2dSame and AvgPool2dSame, used by its tf_* models when the padding cannot be static):
the module becomes a CONV2D / DEPTHWISE_CONV2D / MAX_POOL2D / AVG_POOL2D with the padding their
forward computes for the captured input size (timm.layers.padding.pad_same: total
max((ceil(in / s) - 1) * s + (k - 1) * d + 1 - in, 0), the odd cell at the bottom / right).
That is exactly TFLite's SAME (kernels/padding.h), which the lowering then chooses.

The classes are matched by name (NAMED_MODULES), so timm need not be importable; capture keeps them
as leaves instead of tracing their forward, whose size arithmetic torch.fx cannot follow.
"""
from __future__ import annotations

from catdeploy.capture.ops._base import OpCall, Unsupported, pair, rank4
from catdeploy.capture.ops.conv2d import convert_conv2d
from catdeploy.ir.graph import Node, OpKind


def same_pads(in_hw, kernel, stride, dilation=(1, 1)) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of timm's pad_same / TFLite SAME for an input of `in_hw`."""
    pads = []
    for size, k, s, d in zip(in_hw, kernel, stride, dilation):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return (top, left, bottom, right)


def convert_conv2d_same(call: OpCall) -> Node:
    module = call.module
    x = rank4(call.bind(lambda input: None)["input"])
    node = convert_conv2d(call)   # weights, groups, stride, dilation; the module's own padding is 0
    if tuple(node.attrs["padding"]) != (0, 0, 0, 0):
        raise Unsupported(f"padding={module.padding!r} besides the SAME padding")
    pads = same_pads(x.shape[2:], module.kernel_size, module.stride, module.dilation)
    return Node(node.name, node.kind, node.inputs, node.outputs, {**node.attrs, "padding": pads}, node.params)


def _pool_geometry(call: OpCall):
    module = call.module
    x = rank4(call.bind(lambda input: None)["input"])
    kernel = pair(module.kernel_size, "kernel_size")
    stride = kernel if module.stride in (None, (), []) else pair(module.stride, "stride")
    if pair(module.padding, "padding") != (0, 0):
        raise Unsupported(f"padding={module.padding!r} besides the SAME padding")
    if module.ceil_mode:
        raise Unsupported("ceil_mode=True after SAME padding")
    attrs = {"kernel": kernel, "stride": stride, "padding": same_pads(x.shape[2:], kernel, stride),
             "ceil_mode": False}
    return x, attrs


def convert_max_pool2d_same(call: OpCall) -> Node:
    if pair(call.module.dilation, "dilation") != (1, 1):
        raise Unsupported(f"dilation={call.module.dilation!r}")
    x, attrs = _pool_geometry(call)
    return call.node(OpKind.MAX_POOL2D, [x], attrs)   # padded with -inf: padding never wins


def convert_avg_pool2d_same(call: OpCall) -> Node:
    if call.module.divisor_override is not None:
        raise Unsupported(f"divisor_override={call.module.divisor_override!r}")
    x, attrs = _pool_geometry(call)
    # pad_same pads with zeros before pooling: every window holds kernel-area cells.
    return call.node(OpKind.AVG_POOL2D, [x], {**attrs, "count_include_pad": True})


NAMED_MODULES = {
    "timm.layers.conv2d_same.Conv2dSame": convert_conv2d_same,
    "timm.layers.pool2d_same.MaxPool2dSame": convert_max_pool2d_same,
    "timm.layers.pool2d_same.AvgPool2dSame": convert_avg_pool2d_same,
}
