"""Hard sigmoid and hard swish written out with constants, made canonical:

- relu6(x + 3) / 6 (or * (1 / 6)) -> HARDSIGMOID(x): timm.layers.hard_sigmoid, its in-place form
  x.add_(3.).clamp_(0., 6.).div_(6.), and hand-written forms (F.relu6, F.hardtanh(., 0, 6),
  clamp(0, 6), nn.ReLU6 all capture as RELU6);
- x * (relu6(x + 3) / 6) (either operand order) -> HARDSWISH(x): timm.layers.hard_swish;
- x * relu6(x + 3) / 6 -> HARDSWISH(x).

The same real function as F.hardsigmoid / F.hardswish (torch computes those as relu6(x + 3) / 6
and x * relu6(x + 3) / 6 too). Every intermediate value must have no other reader. Any SCALAR
node left over is refused, all of them at once (CaptureRefused), each as the call site capture
recorded in its "refusal" attribute.
"""
from __future__ import annotations

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops.scalar import refusal_reason
from catdeploy.capture.passes._builder import GraphBuilder, consumer_counts
from catdeploy.capture.refusal import CaptureRefused, UnsupportedOp
from catdeploy.ir.graph import Graph, Node, OpKind


def hard_activations(graph: Graph) -> Graph:
    counts = consumer_counts(graph)
    producer_of = graph.producers

    def only(value: str, kind, attrs=None) -> Node | None:
        """The producer of `value` when it has `kind` (and `attrs`) and `value` has one reader."""
        node = producer_of.get(value)
        if node is None or node.kind != kind or counts[value] != 1 or value in graph.outputs:
            return None
        return node if all(node.attrs.get(k) == v for k, v in (attrs or {}).items()) else None

    def hardsigmoid_input(value: str) -> tuple[str, list[Node]] | None:
        """(x, absorbed nodes) when `value` = relu6(x + 3), read once."""
        relu6 = only(value, OpKind.RELU6)
        shifted = relu6 and only(relu6.inputs[0], CaptureKind.SCALAR, {"op": "add", "value": 3.0})
        return (shifted.inputs[0], [shifted, relu6]) if shifted else None

    replaced: dict[str, Node] = {}   # name of the last node of a pattern -> its canonical node
    absorbed: set[str] = set()
    for node in graph.nodes:
        if node.kind == CaptureKind.SCALAR and _is_sixth(node):
            found = hardsigmoid_input(node.inputs[0])
            if found is not None:
                x, parts = found
                replaced[node.name] = Node(node.name, OpKind.HARDSIGMOID, (x,), node.outputs)
                absorbed.update(p.name for p in parts)
                continue
            product = only(node.inputs[0], OpKind.MUL)
            for i in (0, 1) if product is not None else ():
                found = hardsigmoid_input(product.inputs[i])
                if found is not None and found[0] == product.inputs[1 - i]:
                    replaced[node.name] = Node(node.name, OpKind.HARDSWISH, (found[0],), node.outputs)
                    absorbed.update([product.name] + [p.name for p in found[1]])
                    break
    written_out = {**replaced}
    for node in graph.nodes:
        # x * relu6(x + 3) / 6, the gate written out (x * F.hardsigmoid(x) stays as captured)
        if node.kind != OpKind.MUL or node.name in absorbed:
            continue
        for i in (0, 1):
            gate_value = node.inputs[i]
            gate = producer_of.get(gate_value)
            gate = written_out.get(gate.name) if gate is not None else None
            if (gate is not None and gate.kind == OpKind.HARDSIGMOID and gate.inputs[0] == node.inputs[1 - i]
                    and counts[gate_value] == 1 and gate_value not in graph.outputs):
                replaced[node.name] = Node(node.name, OpKind.HARDSWISH, gate.inputs, node.outputs)
                absorbed.add(gate.name)
                replaced.pop(gate.name, None)
                break
    builder = GraphBuilder(graph)
    leftovers = []
    for node in graph.nodes:
        if node.name in absorbed:
            continue
        node = replaced.get(node.name, node)
        if node.kind == CaptureKind.SCALAR:
            leftovers.append(node.attrs.get("refusal")
                             or UnsupportedOp(node.kind.value, node.name, node.kind.value, refusal_reason(node)))
        else:
            builder.add(node)
    if leftovers:
        raise CaptureRefused(graph.name, leftovers)
    return builder.build()


def _is_sixth(node: Node) -> bool:
    op, value = node.attrs["op"], node.attrs["value"]
    return (op == "div" and value == 6.0) or (op == "mul" and value == 1.0 / 6.0)
