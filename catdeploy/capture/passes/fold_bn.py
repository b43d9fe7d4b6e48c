"""Fold eval-mode batch norm into the conv/linear that produces its input.

y = gamma * (W x + b - mean) / sqrt(var + eps) + beta  ==>  W' = W * s, b' = (b - mean) * s + beta
with s = gamma / sqrt(var + eps) per output channel (computed in float64, stored as float32). The
folded node also keeps params bn_mean = beta and bn_std = |gamma|: the population statistics of its
output before the activation (PD-Quant's distribution correction targets them).
A BATCHNORM whose input is not the sole use of a conv/linear output (or comes from another op)
becomes a per-channel affine op of its own: a 1x1 DEPTHWISE_CONV2D (NCHW) or a diagonal LINEAR
([N, C]), named after the batch norm.
"""
from __future__ import annotations

import numpy as np

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.passes._builder import GraphBuilder, consumer_counts
from catdeploy.ir.graph import Graph, Node, OpKind

_FOLDABLE = (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D, OpKind.LINEAR)


def bn_scale_shift(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (scale, shift) in float64 with bn(x) = x * scale + shift."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in node.params.items()}
    scale = p["weight"] / np.sqrt(p["var"] + node.attrs["eps"])
    return scale, p["bias"] - p["mean"] * scale


def fold_bn(graph: Graph) -> Graph:
    builder = GraphBuilder(graph)
    counts = consumer_counts(graph)
    producer_of = graph.producers
    for node in graph.nodes:
        if node.kind != CaptureKind.BATCHNORM:
            builder.add(node)
            continue
        source = builder.resolve(node.inputs[0])
        producer = producer_of.get(source)
        # Chains (conv -> bn -> bn) resolve to the conv: each link had a single reader.
        if (producer is not None and producer.kind in _FOLDABLE and counts[node.inputs[0]] == 1
                and counts[source] == 1 and producer.attrs["activation"] == "none"):
            folded = _fold_into(builder.added(producer.name), node)
            builder.replace(producer.name, folded)
            builder.alias(node.output, source)
        else:
            builder.add(_as_affine(node, graph.values[node.inputs[0]].shape))
    return builder.build()


def _fold_into(layer: Node, bn: Node) -> Node:
    scale, shift = bn_scale_shift(bn)
    weight = np.asarray(layer.params["weight"], dtype=np.float64)
    bias = np.asarray(layer.params["bias"], dtype=np.float64)
    if weight.shape[0] != scale.shape[0]:
        raise ValueError(f"{bn.name}: {scale.shape[0]} channels after {layer.name} with "
                         f"{weight.shape[0]} outputs")
    new_weight = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    new_bias = bias * scale + shift
    params = {"weight": new_weight.astype(np.float32), "bias": new_bias.astype(np.float32),
              # the folded output's population statistics (before the activation): beta, |gamma|
              "bn_mean": np.asarray(bn.params["bias"], np.float32).copy(),
              "bn_std": np.abs(np.asarray(bn.params["weight"], np.float32))}
    return Node(layer.name, layer.kind, layer.inputs, layer.outputs, layer.attrs, params)


def _as_affine(bn: Node, in_shape: tuple[int, ...]) -> Node:
    scale, shift = bn_scale_shift(bn)
    channels = scale.shape[0]
    bias = shift.astype(np.float32)
    if len(in_shape) == 2:
        weight = np.diag(scale).astype(np.float32)
        return Node(bn.name, OpKind.LINEAR, bn.inputs, bn.outputs, {"activation": "none"},
                    {"weight": weight, "bias": bias})
    weight = scale.reshape(channels, 1, 1, 1).astype(np.float32)
    kind = OpKind.DEPTHWISE_CONV2D if channels > 1 else OpKind.CONV2D
    attrs = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": channels,
             "activation": "none"}
    return Node(bn.name, kind, bn.inputs, bn.outputs, attrs, {"weight": weight, "bias": bias})
