"""A CIFAR-style ResNet-18 int8 .tflite (random weights) for speed and batch tests."""
from __future__ import annotations

import numpy as np

from ._tiny_models import (TinyModel, add_options, conv_options, fc_options, pool_options,
                           reshape_options)


def build_resnet18(batch: int = 1, size: int = 32, classes: int = 10, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    m = TinyModel()
    count = [0]

    def act(shape, scale=0.05, zp=-128):
        count[0] += 1
        return m.tensor(f"t{count[0]}", shape, "int8", [scale], [zp])

    def conv(x, x_shape, oc, k, stride, relu, s_in=0.05):
        ic = x_shape[3]
        scales = list(rng.uniform(0.002, 0.01, size=oc))
        w = m.tensor(f"w{count[0]}", [oc, k, k, ic], "int8", scales, [0] * oc, 0,
                     rng.integers(-127, 128, size=(oc, k, k, ic)))
        b = m.tensor(f"b{count[0]}", [oc], "int32", [s_in * s for s in scales], [0] * oc, 0,
                     rng.integers(-1000, 1000, size=oc))
        out_shape = [x_shape[0], -(-x_shape[1] // stride), -(-x_shape[2] // stride), oc]
        y = act(out_shape)
        m.op("CONV_2D", [x, w, b], [y],
             conv_options("SAME", (stride, stride), act="RELU" if relu else "NONE"))
        return y, out_shape

    x = m.tensor("image", [batch, size, size, 3], "int8", [0.05], [-128])
    m.inputs = [x]
    h, shape = conv(x, [batch, size, size, 3], 64, 3, 1, True)
    for stage, channels in enumerate((64, 128, 256, 512)):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            y1, s1 = conv(h, shape, channels, 3, stride, True)
            y2, s2 = conv(y1, s1, channels, 3, 1, False)
            if stride != 1 or shape[3] != channels:
                sc, _ = conv(h, shape, channels, 1, stride, False)
            else:
                sc = h
            out = act(s2)
            m.op("ADD", [y2, sc], [out], add_options("RELU"))
            h, shape = out, s2
    pooled = act([batch, 1, 1, 512])
    m.op("AVERAGE_POOL_2D", [h], [pooled], pool_options((shape[1], shape[2]), (shape[1], shape[2])))
    flat = act([batch, 512])
    m.op("RESHAPE", [pooled], [flat], reshape_options([-1, 512]))
    scales = list(rng.uniform(0.002, 0.01, size=classes))
    w = m.tensor("fc/w", [classes, 512], "int8", scales, [0] * classes, 0,
                 rng.integers(-127, 128, size=(classes, 512)))
    b = m.tensor("fc/b", [classes], "int32", [0.05 * s for s in scales], [0] * classes, 0,
                 rng.integers(-1000, 1000, size=classes))
    logits = m.tensor("logits", [batch, classes], "int8", [0.1], [0])
    m.op("FULLY_CONNECTED", [flat, w, b], [logits], fc_options())
    m.outputs = [logits]
    return m.build()
