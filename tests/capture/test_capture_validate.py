"""validate() refuses broken graphs with a message naming the culprit."""
from __future__ import annotations

import numpy as np
import pytest

from catdeploy.ir.graph import Graph, Node, OpKind, Value
from catdeploy.ir.validate import InvalidGraph, infer_shape, validate


def _conv(name="conv", inp="x", **over) -> Node:
    attrs = {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1,
             "activation": "none"}
    attrs.update(over.pop("attrs", {}))
    params = {"weight": np.zeros((4, 3, 3, 3), np.float32), "bias": np.zeros(4, np.float32)}
    params.update(over.pop("params", {}))
    return Node(name, over.pop("kind", OpKind.CONV2D), (inp,), (name,), attrs, params)


def _graph(nodes, values=None, outputs=None) -> Graph:
    values = values or {"x": Value("x", (1, 3, 8, 8)), "conv": Value("conv", (1, 4, 8, 8)),
                        "relu": Value("relu", (1, 4, 8, 8))}
    return Graph(tuple(nodes), values, ("x",), tuple(outputs or (nodes[-1].output,)))


RELU = Node("relu", OpKind.RELU, ("conv",), ("relu",))


def test_valid_graph_passes_and_is_returned() -> None:
    g = _graph([_conv(), RELU])
    assert validate(g) is g


@pytest.mark.parametrize("make, fragment", [
    (lambda: _graph([_conv(inp="nope"), RELU]), "unknown value 'nope'"),
    (lambda: _graph([RELU, _conv()]), "not topological"),
    (lambda: _graph([_conv(), RELU], outputs=("ghost",)), "graph output 'ghost'"),
    (lambda: _graph([_conv()]), "not produced by any node"),  # 'relu' orphan value
    (lambda: _graph([_conv(), Node("conv", OpKind.RELU, ("conv",), ("relu",))]), "used twice"),
    (lambda: _graph([_conv(), Node("relu", OpKind.RELU, ("x",), ("conv",))]), "produced twice"),
    (lambda: _graph([_conv(kind="BATCHNORM"), RELU]), "non-canonical kind"),
    (lambda: _graph([_conv(attrs={"extra": 1}), RELU]), "has attrs"),
    (lambda: _graph([_conv(attrs={"activation": "gelu"}), RELU]), "activation 'gelu'"),
    (lambda: _graph([_conv(attrs={"stride": (1,)}), RELU]), "attr 'stride'"),
    (lambda: _graph([_conv(params={"extra": np.zeros(1, np.float32)}), RELU]), "has params"),
    (lambda: _graph([_conv(params={"bias": np.zeros(4)}), RELU]), "float32"),
    (lambda: _graph([_conv(params={"bias": np.zeros(5, np.float32)}), RELU]), "do not fit"),
    (lambda: _graph([_conv(attrs={"padding": (0, 0, 0, 0)}), RELU]), "has shape (1, 4, 8, 8), the op produces (1, 4, 6, 6)"),
    (lambda: _graph([_conv(kind=OpKind.DEPTHWISE_CONV2D), RELU]), "groups == input channels"),
    (lambda: _graph([_conv(), Node("relu", OpKind.ADD, ("conv", "x"), ("relu",), {"activation": "none"})]),
     "do not broadcast"),
])
def test_invalid_graphs(make, fragment) -> None:
    with pytest.raises(InvalidGraph) as info:
        validate(make())
    assert fragment in str(info.value)


def test_shape_rules() -> None:
    pool = Node("p", OpKind.MAX_POOL2D, ("x",), ("p",),
                {"kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1), "ceil_mode": True})
    assert infer_shape(pool, [(1, 3, 10, 10)]) == (1, 3, 6, 6)  # torch: last window must start inside
    assert infer_shape(pool, [(1, 3, 9, 9)]) == (1, 3, 5, 5)
    cat = Node("c", OpKind.CONCAT, ("a", "b"), ("c",), {"axis": 1})
    assert infer_shape(cat, [(2, 3, 4, 4), (2, 5, 4, 4)]) == (2, 8, 4, 4)
    with pytest.raises(InvalidGraph):
        infer_shape(cat, [(2, 3, 4, 4), (2, 5, 4, 5)])
    mul = Node("m", OpKind.MUL, ("a", "b"), ("m",))
    assert infer_shape(mul, [(2, 8, 4, 4), (2, 8, 1, 1)]) == (2, 8, 4, 4)
    pad = Node("p", OpKind.PAD, ("x",), ("p",), {"pads": (1, 2, 3, 4), "value": 0.0})
    assert infer_shape(pad, [(1, 3, 5, 5)]) == (1, 3, 9, 11)
    flat = Node("f", OpKind.FLATTEN, ("x",), ("f",))
    assert infer_shape(flat, [(2, 3, 4, 5)]) == (2, 60)


def test_pool_and_conv_shape_rules_agree_with_torch() -> None:
    import itertools

    import torch
    import torch.nn.functional as F

    for size, k, s, p, ceil in itertools.product((5, 6, 7, 10), (1, 2, 3), (1, 2, 3), (0, 1), (False, True)):
        if 2 * p > k:
            continue
        x = torch.zeros(1, 1, size, size)
        attrs = {"kernel": (k, k), "stride": (s, s), "padding": (p, p, p, p), "ceil_mode": ceil}
        node = Node("p", OpKind.MAX_POOL2D, ("x",), ("p",), attrs)
        assert infer_shape(node, [tuple(x.shape)]) == tuple(F.max_pool2d(x, k, s, p, ceil_mode=ceil).shape)
        conv = _conv(attrs={"stride": (s, s), "padding": (p, p, p, p), "dilation": (2, 1)},
                     params={"weight": np.zeros((2, 1, k, k), np.float32), "bias": np.zeros(2, np.float32)})
        w = torch.zeros(2, 1, k, k)
        if size + 2 * p >= 2 * (k - 1) + 1:
            expected = F.conv2d(x, w, stride=s, padding=p, dilation=(2, 1)).shape
            assert infer_shape(conv, [tuple(x.shape)]) == tuple(expected)
