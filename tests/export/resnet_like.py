"""A synthetic torchvision-ResNet-18-shaped IntProgram (random int8 weights, plausible scales):
stem 7x7/2 conv + 3x3/2 max pool, 4 stages of 2 basic blocks (64..512 channels, 1x1 stride-2
downsample convs), residual ADD + RELU, global average pool, RESHAPE, FULLY_CONNECTED.
Used to check that the writer and the interpreter harness cope with a real-sized model."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.int_program import IntOp, IntProgram, IntTensor


def _f32(x: float) -> float:
    return float(np.float32(x))


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.tensors: dict[str, IntTensor] = {}
        self.ops: list[IntOp] = []

    def act(self, name: str, shape, scale: float = 0.05, zero_point: int = 0) -> str:
        self.tensors[name] = IntTensor(name, tuple(shape), "int8", (_f32(scale),), (zero_point,))
        return name

    def conv(self, x: str, name: str, oc: int, k: int, stride: int, relu: bool) -> str:
        xt = self.tensors[x]
        n, h, w, ic = xt.shape
        w_q = self.rng.integers(-127, 128, size=(oc, k, k, ic)).astype(np.int8)
        s_w = self.rng.uniform(0.5, 1.5, size=oc) / (k * np.sqrt(ic) * 127 * 0.6)
        s_in = xt.scale[0]
        self.tensors[f"{name}.w"] = IntTensor(f"{name}.w", w_q.shape, "int8", tuple(_f32(s) for s in s_w),
                                              (0,) * oc, 0, w_q)
        b = self.rng.integers(-500, 500, size=oc).astype(np.int32)
        self.tensors[f"{name}.b"] = IntTensor(f"{name}.b", (oc,), "int32",
                                              tuple(_f32(s_in * _f32(s)) for s in s_w), (0,) * oc, 0, b)
        oh, ow = -(-h // stride), -(-w // stride)
        y = self.act(f"{name}.out", (n, oh, ow, oc), 0.05, -128 if relu else 0)
        self.ops.append(IntOp("CONV_2D", (x, f"{name}.w", f"{name}.b"), (y,), dict(
            padding="SAME", stride_h=stride, stride_w=stride, dilation_h=1, dilation_w=1,
            fused_activation="RELU" if relu else "NONE"), name=name))
        return y

    def block(self, x: str, name: str, oc: int, stride: int) -> str:
        y = self.conv(x, f"{name}.conv1", oc, 3, stride, relu=True)
        y = self.conv(y, f"{name}.conv2", oc, 3, 1, relu=False)
        shortcut = x
        if stride != 1 or self.tensors[x].shape[3] != oc:
            shortcut = self.conv(x, f"{name}.downsample", oc, 1, stride, relu=False)
        out = self.act(f"{name}.out", self.tensors[y].shape, 0.05, -128)
        self.ops.append(IntOp("ADD", (y, shortcut), (out,), dict(fused_activation="RELU"), name=f"{name}.add"))
        return out


def resnet18_like(input_hw: int = 32, num_classes: int = 10, seed: int = 0) -> IntProgram:
    b = _Builder(seed)
    x = b.act("input", (1, input_hw, input_hw, 3), 0.02, 0)
    y = b.conv(x, "conv1", 64, 7, 2, relu=True)
    n, h, w, c = b.tensors[y].shape
    pooled = b.act("maxpool.out", (n, -(-h // 2), -(-w // 2), c), 0.05, -128)
    b.ops.append(IntOp("MAX_POOL_2D", (y,), (pooled,), dict(padding="SAME", stride_h=2, stride_w=2, filter_h=3,
                                                            filter_w=3), name="maxpool"))
    y = pooled
    for stage, oc in enumerate((64, 128, 256, 512), start=1):
        for i in range(2):
            y = b.block(y, f"layer{stage}.{i}", oc, 2 if stage > 1 and i == 0 else 1)
    n, h, w, c = b.tensors[y].shape
    gap = b.act("avgpool.out", (n, 1, 1, c), 0.05, -128)
    b.ops.append(IntOp("AVERAGE_POOL_2D", (y,), (gap,), dict(padding="VALID", stride_h=1, stride_w=1, filter_h=h,
                                                             filter_w=w), name="avgpool"))
    flat = b.act("flatten.out", (n, c), 0.05, -128)
    b.ops.append(IntOp("RESHAPE", (gap,), (flat,), dict(new_shape=(-1, c)), name="flatten"))
    w_q = b.rng.integers(-127, 128, size=(num_classes, c)).astype(np.int8)
    s_w = tuple(_f32(s) for s in np.full(num_classes, 1.0 / (np.sqrt(c) * 127)))
    b.tensors["fc.w"] = IntTensor("fc.w", w_q.shape, "int8", s_w, (0,) * num_classes, 0, w_q)
    b.tensors["fc.b"] = IntTensor("fc.b", (num_classes,), "int32", tuple(_f32(0.05 * s) for s in s_w),
                                  (0,) * num_classes, 0, np.zeros(num_classes, np.int32))
    logits = b.act("logits", (n, num_classes), 0.1, 0)
    b.ops.append(IntOp("FULLY_CONNECTED", (flat, "fc.w", "fc.b"), (logits,), dict(fused_activation="NONE"),
                       name="fc"))
    return IntProgram(b.tensors, tuple(b.ops), ("input",), ("logits",))
