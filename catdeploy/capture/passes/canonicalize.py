"""Canonical forms for pooling and reshapes:
- MEAN over (H, W) -> GLOBAL_AVG_POOL (+ FLATTEN when keepdim=False);
- ADAPTIVE_AVG_POOL: output (1, 1) -> GLOBAL_AVG_POOL, output == input -> removed, else AVG_POOL2D
  with kernel = stride = input / output;
- ADAPTIVE_MAX_POOL: output == input -> removed, else MAX_POOL2D likewise;
- AVG_POOL2D whose unpadded kernel covers the whole input -> GLOBAL_AVG_POOL;
- FLATTEN of a value that is already [N, features] -> removed.
"""
from __future__ import annotations

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.passes._builder import GraphBuilder
from catdeploy.ir.graph import Graph, Node, OpKind, Value


def canonicalize(graph: Graph) -> Graph:
    builder = GraphBuilder(graph)
    for node in graph.nodes:
        in_shape = graph.values[node.inputs[0]].shape if node.inputs else ()
        if node.kind == CaptureKind.MEAN:
            _global_pool(builder, node, in_shape, keepdim=node.attrs["keepdim"])
        elif node.kind in (CaptureKind.ADAPTIVE_AVG_POOL, CaptureKind.ADAPTIVE_MAX_POOL):
            _adaptive_pool(builder, node, in_shape)
        elif (node.kind == OpKind.AVG_POOL2D and tuple(node.attrs["kernel"]) == tuple(in_shape[2:])
              and not any(node.attrs["padding"])):
            _global_pool(builder, node, in_shape, keepdim=True)
        elif node.kind == OpKind.FLATTEN and len(in_shape) == 2:
            builder.alias(node.output, node.inputs[0])
        else:
            builder.add(node)
    return builder.build()


def _global_pool(builder: GraphBuilder, node: Node, in_shape: tuple[int, ...], keepdim: bool) -> None:
    n, c = in_shape[0], in_shape[1]
    builder.add(Node(node.name, OpKind.GLOBAL_AVG_POOL, node.inputs, node.outputs))
    builder.values[node.output] = Value(node.output, (n, c, 1, 1))
    if not keepdim:
        flat = builder.fresh_name(f"{node.name}_flatten")
        builder.add(Node(flat, OpKind.FLATTEN, node.outputs, (flat,)))
        builder.values[flat] = Value(flat, (n, c))
        builder.alias(node.output, flat)


def _adaptive_pool(builder: GraphBuilder, node: Node, in_shape: tuple[int, ...]) -> None:
    oh, ow = node.attrs["output_size"]
    h, w = in_shape[2], in_shape[3]
    if (oh, ow) == (h, w):
        builder.alias(node.output, node.inputs[0])
        return
    if node.kind == CaptureKind.ADAPTIVE_AVG_POOL and (oh, ow) == (1, 1):
        _global_pool(builder, node, in_shape, keepdim=True)
        return
    kernel = (h // oh, w // ow)
    attrs = {"kernel": kernel, "stride": kernel, "padding": (0, 0, 0, 0), "ceil_mode": False}
    if node.kind == CaptureKind.ADAPTIVE_AVG_POOL:
        builder.add(Node(node.name, OpKind.AVG_POOL2D, node.inputs, node.outputs,
                         {**attrs, "count_include_pad": True}))
    else:
        builder.add(Node(node.name, OpKind.MAX_POOL2D, node.inputs, node.outputs, attrs))
