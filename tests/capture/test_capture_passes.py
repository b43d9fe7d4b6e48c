"""The capture passes on hand-built graphs: pure, and doing exactly their one job."""
from __future__ import annotations

import numpy as np

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.passes import canonicalize, fold_bn, fuse_activation, remove_dead, remove_identity
from catdeploy.ir.execute import run_graph
from catdeploy.ir.graph import Graph, Node, OpKind, Value
from catdeploy.ir.validate import validate

RNG = np.random.default_rng(0)
CONV_ATTRS = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1,
              "activation": "none"}


def _conv(name, inp, c_in=3, c_out=4) -> Node:
    params = {"weight": RNG.standard_normal((c_out, c_in, 1, 1)).astype(np.float32),
              "bias": RNG.standard_normal(c_out).astype(np.float32)}
    return Node(name, OpKind.CONV2D, (inp,), (name,), CONV_ATTRS, params)


def _bn(name, inp, c=4) -> Node:
    params = {"mean": RNG.standard_normal(c).astype(np.float32),
              "var": RNG.uniform(0.5, 2, c).astype(np.float32),
              "weight": RNG.uniform(0.5, 1.5, c).astype(np.float32),
              "bias": RNG.standard_normal(c).astype(np.float32)}
    return Node(name, CaptureKind.BATCHNORM, (inp,), (name,), {"eps": 1e-5}, params)


def _graph(nodes, outputs, shapes) -> Graph:
    return Graph(tuple(nodes), {k: Value(k, v) for k, v in shapes.items()}, ("x",), tuple(outputs))


def _bn_reference(x, bn):
    p = bn.params
    shape = (1, -1, 1, 1)
    return ((x - p["mean"].reshape(shape)) / np.sqrt(p["var"].reshape(shape) + 1e-5)
            * p["weight"].reshape(shape) + p["bias"].reshape(shape))


def test_fold_bn_chain_into_conv_and_is_pure() -> None:
    conv, bn1, bn2 = _conv("conv", "x"), _bn("bn1", "conv"), _bn("bn2", "bn1")
    shape = (1, 4, 5, 5)
    g = _graph([conv, bn1, bn2], ["bn2"], {"x": (1, 3, 5, 5), "conv": shape, "bn1": shape, "bn2": shape})
    weight_before = conv.params["weight"].copy()
    folded = validate(fold_bn(g))
    assert [n.name for n in folded.nodes] == ["conv"] and folded.outputs == ("conv",)
    assert np.array_equal(conv.params["weight"], weight_before)  # source graph untouched
    x = RNG.standard_normal((2, 3, 5, 5)).astype(np.float32)
    conv_only = _graph([conv], ["conv"], {"x": (1, 3, 5, 5), "conv": shape})
    expected = _bn_reference(_bn_reference(run_graph(conv_only, x), bn1), bn2)
    assert np.allclose(run_graph(folded, x), expected, atol=1e-5)


def test_fold_bn_refuses_shared_conv_output() -> None:
    conv, bn = _conv("conv", "x"), _bn("bn", "conv")
    shape = (1, 4, 5, 5)
    add = Node("add", OpKind.ADD, ("bn", "conv"), ("add",), {"activation": "none"})
    g = _graph([conv, bn, add], ["add"], {"x": (1, 3, 5, 5), "conv": shape, "bn": shape, "add": shape})
    out = validate(fold_bn(g))
    assert [n.kind for n in out.nodes] == [OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D, OpKind.ADD]
    assert np.array_equal(out.nodes[0].params["weight"], conv.params["weight"])


def test_fuse_activation_rules() -> None:
    shape = (1, 4, 5, 5)
    conv = _conv("conv", "x")
    relu = Node("relu", OpKind.RELU, ("conv",), ("relu",))
    relu6 = Node("relu6", OpKind.RELU6, ("relu",), ("relu6",))
    g = _graph([conv, relu, relu6], ["relu6"], {"x": (1, 3, 5, 5), "conv": shape, "relu": shape, "relu6": shape})
    out = validate(fuse_activation(g))
    # relu fused into conv; relu6 follows a fused conv (activation already set): stays a node
    assert [(n.name, n.kind) for n in out.nodes] == [("conv", OpKind.CONV2D), ("relu6", OpKind.RELU6)]
    assert out.nodes[0].attrs["activation"] == "relu" and out.nodes[1].inputs == ("conv",)
    # a conv output that is also a graph output keeps its relu node
    g2 = _graph([conv, relu], ["conv", "relu"], {"x": (1, 3, 5, 5), "conv": shape, "relu": shape})
    assert [n.kind for n in fuse_activation(g2).nodes] == [OpKind.CONV2D, OpKind.RELU]
    # relu after a pool is not fusable
    pool = Node("pool", OpKind.MAX_POOL2D, ("x",), ("pool",),
                {"kernel": (1, 1), "stride": (1, 1), "padding": (0, 0, 0, 0), "ceil_mode": False})
    relu_p = Node("relu", OpKind.RELU, ("pool",), ("relu",))
    g3 = _graph([pool, relu_p], ["relu"], {"x": (1, 3, 5, 5), "pool": (1, 3, 5, 5), "relu": (1, 3, 5, 5)})
    assert [n.kind for n in fuse_activation(g3).nodes] == [OpKind.MAX_POOL2D, OpKind.RELU]


def test_remove_identity_canonicalize_and_dead() -> None:
    ident = Node("drop", CaptureKind.IDENTITY, ("x",), ("drop",))
    mean = Node("mean", CaptureKind.MEAN, ("drop",), ("mean",), {"dims": (2, 3), "keepdim": False})
    dead = _conv("unused", "x")
    g = _graph([ident, mean, dead], ["mean"],
               {"x": (1, 3, 5, 5), "drop": (1, 3, 5, 5), "mean": (1, 3), "unused": (1, 4, 5, 5)})
    g = remove_identity(g)
    assert [n.name for n in g.nodes] == ["mean", "unused"] and g.nodes[0].inputs == ("x",)
    g = canonicalize(g)
    assert [(n.name, n.kind) for n in g.nodes] == [
        ("mean", OpKind.GLOBAL_AVG_POOL), ("mean_flatten", OpKind.FLATTEN), ("unused", OpKind.CONV2D)]
    assert g.outputs == ("mean_flatten",) and g.values["mean"].shape == (1, 3, 1, 1)
    g = validate(remove_dead(g))
    assert [n.name for n in g.nodes] == ["mean", "mean_flatten"] and "unused" not in g.values
    x = RNG.standard_normal((2, 3, 5, 5)).astype(np.float32)
    assert np.allclose(run_graph(g, x), x.mean((2, 3)), atol=1e-6)
