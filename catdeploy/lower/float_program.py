"""Graph -> float32 TFLite program (`catdeploy export --bits fp32`).

The same layouts as the integer lowering (NHWC activations, OHWI / 1HWO filters, TFLite padding
rules, explicit PADs where torch's padding has no SAME equivalent) with float32 tensors and the
float kernels of the same builtins. Its purpose is a cross-check of that layout handling against an
independent converter (onnx2tf's float TFLite, bench/bench_float_check.py) and a float baseline on
the device; one file per op under float_ops/, like the integer lowering.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph, Node, OpKind
from catdeploy.ir.int_program import IntOp, IntProgram, IntTensor
from catdeploy.lower.builder import nhwc_shape

# Kinds whose output is >= 0 whatever the input, and kinds that keep their input's sign.
_NONNEGATIVE_KINDS = (OpKind.RELU, OpKind.RELU6, OpKind.SIGMOID, OpKind.HARDSIGMOID)
_SIGN_PRESERVING_KINDS = (OpKind.MAX_POOL2D, OpKind.AVG_POOL2D, OpKind.GLOBAL_AVG_POOL, OpKind.FLATTEN,
                          OpKind.CHANNEL_SHUFFLE, OpKind.SLICE, OpKind.CONCAT, OpKind.PAD)


@dataclass
class FloatBuilder:
    graph: Graph
    tensors: dict[str, IntTensor] = field(default_factory=dict)
    ops: list[IntOp] = field(default_factory=list)

    def add_tensor(self, name: str, shape: tuple[int, ...], dtype: str = "float32",
                   data: np.ndarray | None = None) -> str:
        if name in self.tensors:
            raise UserError(f"internal: tensor {name} defined twice while lowering to float")
        self.tensors[name] = IntTensor(name=name, shape=tuple(int(d) for d in shape), dtype=dtype,
                                       data=None if data is None else np.array(data, order="C"))
        return name

    def value(self, value: str) -> str:
        """The float tensor of a graph value (created on first use), shaped NHWC."""
        if value not in self.tensors:
            self.add_tensor(value, nhwc_shape(self.graph.values[value].shape))
        return value

    def const(self, name: str, data: np.ndarray) -> str:
        data = np.asarray(data)
        dtype = "int32" if data.dtype.kind in "iu" else "float32"
        return self.add_tensor(name, data.shape, dtype, data.astype(np.int32 if dtype == "int32" else np.float32))

    def scalar(self, name: str, value: float) -> str:
        return self.const(name, np.array([value], np.float32))

    def op(self, kind: str, inputs, outputs, options=None, name: str = "") -> None:
        self.ops.append(IntOp(kind=kind, inputs=tuple(inputs), outputs=tuple(outputs),
                              options=dict(options or {}), name=name))

    def intermediate(self, node: Node, suffix: str) -> str:
        """A float tensor shaped like the node's output, for the ops a node lowers to."""
        return self.add_tensor(f"{node.name}/{suffix}", nhwc_shape(self.graph.values[node.output].shape))

    def nonnegative(self, value: str) -> bool:
        """Real values of `value` are >= 0 for every input (decided from the producers)."""
        producer = self.graph.producer(value)
        if producer is None:
            return False
        if producer.kind in _NONNEGATIVE_KINDS or producer.attrs.get("activation", "none") in ("relu", "relu6"):
            return True
        if producer.kind is OpKind.PAD and float(producer.attrs.get("value", 0.0)) < 0:
            return False
        return producer.kind in _SIGN_PRESERVING_KINDS and all(self.nonnegative(v) for v in producer.inputs)


def lower_float(graph: Graph) -> IntProgram:
    """The float32 TFLite program of `graph` (float input and output, NHWC)."""
    from catdeploy.lower.float_ops import REGISTRY

    unsupported = sorted({f"{n.kind.value} at {n.name}" for n in graph.nodes if n.kind not in REGISTRY})
    if unsupported:
        raise UserError("cannot lower to a float TFLite graph: " + "; ".join(unsupported))
    b = FloatBuilder(graph)
    inputs = [b.value(v) for v in graph.inputs]
    for node in graph.nodes:
        REGISTRY[node.kind](b, node)
    outputs = [b.value(v) for v in graph.outputs]
    return IntProgram(tensors=b.tensors, ops=tuple(b.ops), inputs=tuple(inputs), outputs=tuple(outputs),
                      metadata={"catdeploy.setting": "fp32"})
