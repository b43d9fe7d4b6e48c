"""Hand-built Graphs for planning/lowering tests that do not depend on capture."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Graph, Node, OpKind, Value


def _conv(name, x, y, cin, cout, k, stride, pad, act, rng, depthwise=False):
    groups = cin if depthwise else 1
    w = rng.normal(0, 0.3, size=(cout, cin // groups, k, k)).astype(np.float32)
    return Node(name, OpKind.DEPTHWISE_CONV2D if depthwise else OpKind.CONV2D, (x,), (y,),
                {"stride": (stride, stride), "padding": (pad, pad, pad, pad), "dilation": (1, 1),
                 "groups": groups, "activation": act},
                {"weight": w, "bias": rng.normal(0, 0.1, size=cout).astype(np.float32)})


def tiny_resnet(seed: int = 0, size: int = 8) -> Graph:
    """conv+relu -> maxpool -> (conv+relu -> conv) + skip -> add+relu -> gap -> flatten -> linear."""
    rng = np.random.default_rng(seed)
    c = 4
    h = size // 2
    q = h // 2
    nodes = [
        _conv("conv1", "x", "conv1", 3, c, 3, 2, 1, "relu", rng),
        Node("maxpool", OpKind.MAX_POOL2D, ("conv1",), ("maxpool",),
             {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1), "ceil_mode": False}),
        _conv("block.conv1", "maxpool", "block.conv1", c, c, 3, 1, 1, "relu", rng),
        _conv("block.conv2", "block.conv1", "block.conv2", c, c, 3, 1, 1, "none", rng),
        Node("add", OpKind.ADD, ("block.conv2", "maxpool"), ("add",), {"activation": "relu"}),
        Node("avgpool", OpKind.GLOBAL_AVG_POOL, ("add",), ("avgpool",), {}),
        Node("flatten", OpKind.FLATTEN, ("avgpool",), ("flatten",), {}),
        Node("fc", OpKind.LINEAR, ("flatten",), ("fc",), {"activation": "none"},
             {"weight": rng.normal(0, 0.3, size=(5, c)).astype(np.float32),
              "bias": rng.normal(0, 0.1, size=5).astype(np.float32)}),
    ]
    values = {
        "x": Value("x", (1, 3, size, size)), "conv1": Value("conv1", (1, c, h, h)),
        "maxpool": Value("maxpool", (1, c, q, q)), "block.conv1": Value("block.conv1", (1, c, q, q)),
        "block.conv2": Value("block.conv2", (1, c, q, q)), "add": Value("add", (1, c, q, q)),
        "avgpool": Value("avgpool", (1, c, 1, 1)), "flatten": Value("flatten", (1, c)),
        "fc": Value("fc", (1, 5)),
    }
    return Graph(tuple(nodes), values, ("x",), ("fc",), name="tiny_resnet")


def tiny_mobilenet(seed: int = 0, size: int = 8) -> Graph:
    """conv+relu6 -> dw+relu6 -> project (no act) -> expand+relu6 -> dw -> project + skip -> gap -> fc."""
    rng = np.random.default_rng(seed)
    h = size // 2
    nodes = [
        _conv("stem", "x", "stem", 3, 4, 3, 2, 1, "relu6", rng),
        _conv("b1.dw", "stem", "b1.dw", 4, 4, 3, 1, 1, "relu6", rng, depthwise=True),
        _conv("b1.proj", "b1.dw", "b1.proj", 4, 6, 1, 1, 0, "none", rng),
        _conv("b2.expand", "b1.proj", "b2.expand", 6, 12, 1, 1, 0, "relu6", rng),
        _conv("b2.dw", "b2.expand", "b2.dw", 12, 12, 3, 1, 1, "relu6", rng, depthwise=True),
        _conv("b2.proj", "b2.dw", "b2.proj", 12, 6, 1, 1, 0, "none", rng),
        Node("b2.add", OpKind.ADD, ("b1.proj", "b2.proj"), ("b2.add",), {"activation": "none"}),
        Node("gap", OpKind.GLOBAL_AVG_POOL, ("b2.add",), ("gap",), {}),
        Node("flatten", OpKind.FLATTEN, ("gap",), ("flatten",), {}),
        Node("fc", OpKind.LINEAR, ("flatten",), ("fc",), {"activation": "none"},
             {"weight": rng.normal(0, 0.3, size=(5, 6)).astype(np.float32),
              "bias": rng.normal(0, 0.1, size=5).astype(np.float32)}),
    ]
    values = {"x": Value("x", (1, 3, size, size))}
    shapes = {"stem": 4, "b1.dw": 4, "b1.proj": 6, "b2.expand": 12, "b2.dw": 12, "b2.proj": 6, "b2.add": 6}
    for k, c in shapes.items():
        values[k] = Value(k, (1, c, h, h))
    values["gap"] = Value("gap", (1, 6, 1, 1))
    values["flatten"] = Value("flatten", (1, 6))
    values["fc"] = Value("fc", (1, 5))
    return Graph(tuple(nodes), values, ("x",), ("fc",), name="tiny_mobilenet")
